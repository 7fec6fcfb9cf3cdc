package android.content;

import stub.Rec;

/** IClipboard as on Android 14..15. */
public interface IClipboard {
	ClipData getPrimaryClip(String pkg, String attributionTag, int userId, int deviceId);

	void setPrimaryClip(ClipData clip, String callingPackage, String attributionTag, int userId, int deviceId);

	boolean hasClipboardText(String callingPackage, String attributionTag, int userId, int deviceId);

	abstract class Stub implements IClipboard {
		public static IClipboard asInterface(android.os.IBinder obj) {
			Rec.check(obj instanceof stub.Binder && ((stub.Binder) obj).name.equals("clipboard"), "clipboard binder");
			return new Proxy();
		}

		private static class Proxy implements IClipboard {
			@Override
			public ClipData getPrimaryClip(String pkg, String attributionTag, int userId, int deviceId) {
				Rec.check("com.android.shell".equals(pkg) && attributionTag == null && userId == 0 && deviceId == 0,
						"getPrimaryClip " + pkg + " " + attributionTag + " " + userId + " " + deviceId);
				return stub.Clipboard.get();
			}

			@Override
			public void setPrimaryClip(ClipData clip, String callingPackage, String attributionTag, int userId,
					int deviceId) {
				Rec.check("com.android.shell".equals(callingPackage) && attributionTag == null && userId == 0
						&& deviceId == 0, "setPrimaryClip " + callingPackage + " " + attributionTag + " " + userId
						+ " " + deviceId);
				stub.Clipboard.set(clip, "pkg=" + callingPackage + " tag=" + attributionTag + " user=" + userId
						+ " device=" + deviceId);
			}

			@Override
			public boolean hasClipboardText(String callingPackage, String attributionTag, int userId, int deviceId) {
				return true;
			}
		}
	}
}
