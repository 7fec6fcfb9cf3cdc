package android.view;

public final class MotionEvent extends InputEvent {
	public static final int AXIS_VSCROLL = 9;
	public static final int AXIS_HSCROLL = 10;

	/** PointerProperties: a new one has id -1 (INVALID_POINTER_ID), as on Android. */
	public static final class PointerProperties {
		public int id = -1;
		public int toolType;
	}

	public static final class PointerCoords {
		public float x, y, pressure, size;
		private final float[] axes = new float[64];

		public void setAxisValue(int axis, float value) {
			switch (axis) {
			case 0: x = value; break;
			case 1: y = value; break;
			case 2: pressure = value; break;
			case 3: size = value; break;
			default: axes[axis] = value;
			}
		}

		public float getAxisValue(int axis) {
			switch (axis) {
			case 0: return x;
			case 1: return y;
			case 2: return pressure;
			case 3: return size;
			default: return axes[axis];
			}
		}
	}

	private long downTime, eventTime;
	private int action, metaState, buttonState, deviceId, edgeFlags, source, flags;
	private int[] ids, tools;
	private PointerCoords[] coords;

	private MotionEvent() {}

	public static MotionEvent obtain(long downTime, long eventTime, int action, int pointerCount,
			PointerProperties[] pointerProperties, PointerCoords[] pointerCoords, int metaState, int buttonState,
			float xPrecision, float yPrecision, int deviceId, int edgeFlags, int source, int flags) {
		stub.Rec.check(pointerCount >= 1 && pointerCount <= pointerProperties.length
				&& pointerCount <= pointerCoords.length, "pointerCount " + pointerCount);
		stub.Rec.check(xPrecision == 1f && yPrecision == 1f, "precision");
		MotionEvent e = new MotionEvent();
		e.downTime = downTime;
		e.eventTime = eventTime;
		e.action = action;
		e.metaState = metaState;
		e.buttonState = buttonState;
		e.deviceId = deviceId;
		e.edgeFlags = edgeFlags;
		e.source = source;
		e.flags = flags;
		e.ids = new int[pointerCount];
		e.tools = new int[pointerCount];
		e.coords = new PointerCoords[pointerCount];
		for (int i = 0; i < pointerCount; i++) {
			stub.Rec.check(pointerProperties[i].id >= 0 && pointerProperties[i].id < 32, "pointer id " + pointerProperties[i].id);
			for (int j = 0; j < i; j++) {
				stub.Rec.check(e.ids[j] != pointerProperties[i].id, "duplicate pointer id");
			}
			e.ids[i] = pointerProperties[i].id;
			e.tools[i] = pointerProperties[i].toolType;
			PointerCoords c = new PointerCoords();
			for (int a = 0; a < 64; a++) {
				c.setAxisValue(a, pointerCoords[i].getAxisValue(a));
			}
			e.coords[i] = c;
		}
		return e;
	}

	public long getDownTime() { return downTime; }
	public long getEventTime() { return eventTime; }
	public int getAction() { return action; }
	public int getMetaState() { return metaState; }
	public int getButtonState() { return buttonState; }
	public int getEdgeFlags() { return edgeFlags; }
	public int getFlags() { return flags; }
	public int getPointerCount() { return ids.length; }
	public int getPointerId(int i) { return ids[i]; }
	public int getToolType(int i) { return tools[i]; }
	public float getX(int i) { return coords[i].x; }
	public float getY(int i) { return coords[i].y; }
	public float getPressure(int i) { return coords[i].pressure; }
	public float getAxisValue(int axis, int i) { return coords[i].getAxisValue(axis); }
	@Override public int getDeviceId() { return deviceId; }
	@Override public int getSource() { return source; }
}
