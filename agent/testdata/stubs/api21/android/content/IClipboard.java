package android.content;

import stub.Rec;

/** IClipboard as on Android 5..9. */
public interface IClipboard {
	ClipData getPrimaryClip(String pkg);

	void setPrimaryClip(ClipData clip, String callingPackage);

	abstract class Stub implements IClipboard {
		public static IClipboard asInterface(android.os.IBinder obj) {
			Rec.check(obj instanceof stub.Binder && ((stub.Binder) obj).name.equals("clipboard"), "clipboard binder");
			return new Proxy();
		}

		/** Proxy is private, as the AIDL Proxy is. */
		private static class Proxy implements IClipboard {
			@Override
			public ClipData getPrimaryClip(String pkg) {
				Rec.check("com.android.shell".equals(pkg), "getPrimaryClip pkg " + pkg);
				return stub.Clipboard.get();
			}

			@Override
			public void setPrimaryClip(ClipData clip, String callingPackage) {
				Rec.check("com.android.shell".equals(callingPackage), "setPrimaryClip pkg " + callingPackage);
				stub.Clipboard.set(clip, "pkg=" + callingPackage);
			}
		}
	}
}
