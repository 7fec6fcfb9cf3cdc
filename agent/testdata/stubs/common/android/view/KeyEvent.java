package android.view;

public class KeyEvent extends InputEvent {
	private final long downTime, eventTime;
	private final int action, code, repeat, meta, deviceId, scancode, flags, source;

	public KeyEvent(long downTime, long eventTime, int action, int code, int repeat, int metaState, int deviceId,
			int scancode, int flags, int source) {
		this.downTime = downTime;
		this.eventTime = eventTime;
		this.action = action;
		this.code = code;
		this.repeat = repeat;
		this.meta = metaState;
		this.deviceId = deviceId;
		this.scancode = scancode;
		this.flags = flags;
		this.source = source;
	}

	public long getDownTime() { return downTime; }
	public long getEventTime() { return eventTime; }
	public int getAction() { return action; }
	public int getKeyCode() { return code; }
	public int getRepeatCount() { return repeat; }
	public int getMetaState() { return meta; }
	public int getScanCode() { return scancode; }
	public int getFlags() { return flags; }
	@Override public int getDeviceId() { return deviceId; }
	@Override public int getSource() { return source; }
}
