package android.view;

public abstract class InputEvent {
	InputEvent() {}

	public abstract int getDeviceId();

	public abstract int getSource();
}
