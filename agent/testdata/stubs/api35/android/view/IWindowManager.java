package android.view;

import stub.Rec;

/**
 * IWindowManager with only the per-display methods and a caller argument:
 * the agent's fallback from freezeRotation/thawRotation.
 */
public interface IWindowManager {
	void freezeDisplayRotation(int displayId, int rotation, String caller);

	void thawDisplayRotation(int displayId, String caller);

	abstract class Stub implements IWindowManager {
		public static IWindowManager asInterface(android.os.IBinder obj) {
			Rec.check(obj instanceof stub.Binder && ((stub.Binder) obj).name.equals("window"), "window binder");
			return new Proxy();
		}

		private static class Proxy implements IWindowManager {
			@Override
			public void freezeDisplayRotation(int displayId, int rotation, String caller) {
				Rec.check(displayId == 0 && rotation >= 0 && rotation <= 3, "display " + displayId + " rotation " + rotation);
				Rec.log("wm freezeDisplayRotation display=" + displayId + " rotation=" + rotation + " caller=" + caller);
			}

			@Override
			public void thawDisplayRotation(int displayId, String caller) {
				Rec.check(displayId == 0, "display " + displayId);
				Rec.log("wm thawDisplayRotation display=" + displayId + " caller=" + caller);
			}
		}
	}
}
