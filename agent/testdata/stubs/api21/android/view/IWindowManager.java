package android.view;

import stub.Rec;

/** IWindowManager as on Android 5..13: freezeRotation and thawRotation. */
public interface IWindowManager {
	void freezeRotation(int rotation);

	void thawRotation();

	abstract class Stub implements IWindowManager {
		public static IWindowManager asInterface(android.os.IBinder obj) {
			Rec.check(obj instanceof stub.Binder && ((stub.Binder) obj).name.equals("window"), "window binder");
			return new Proxy();
		}

		private static class Proxy implements IWindowManager {
			@Override
			public void freezeRotation(int rotation) {
				Rec.check(rotation >= 0 && rotation <= 3, "rotation " + rotation);
				Rec.log("wm freezeRotation rotation=" + rotation);
			}

			@Override
			public void thawRotation() {
				Rec.log("wm thawRotation");
			}
		}
	}
}
