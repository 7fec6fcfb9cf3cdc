package android.hardware.input;

import android.view.InputEvent;

public final class InputManager {
	private static final InputManager INSTANCE = new InputManager();

	private InputManager() {}

	public static InputManager getInstance() {
		return INSTANCE;
	}

	public boolean injectInputEvent(InputEvent event, int mode) {
		return stub.Inject.record("InputManager", event, mode);
	}
}
