package android.hardware.input;

import android.view.InputEvent;

/** InputManagerGlobal: Android 14 (API 34) and later. */
public final class InputManagerGlobal {
	private static final InputManagerGlobal INSTANCE = new InputManagerGlobal();

	private InputManagerGlobal() {}

	public static InputManagerGlobal getInstance() {
		return INSTANCE;
	}

	public boolean injectInputEvent(InputEvent event, int mode) {
		return stub.Inject.record("InputManagerGlobal", event, mode);
	}

	/** the overload with a target uid (API 34+) must not be picked */
	public boolean injectInputEvent(InputEvent event, int mode, int targetUid) {
		throw new IllegalStateException("stub: the 3-argument injectInputEvent was called");
	}
}
