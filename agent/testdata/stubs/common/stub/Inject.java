package stub;

import android.view.InputEvent;
import android.view.KeyEvent;
import android.view.MotionEvent;

/** Inject records the events injected through InputManager(Global). */
public final class Inject {
	private Inject() {}

	public static boolean record(String via, InputEvent e, int mode) {
		Rec.check(mode == 0 || mode == 2, "mode " + mode);
		if (e instanceof KeyEvent) {
			KeyEvent k = (KeyEvent) e;
			Rec.check(k.getEventTime() >= k.getDownTime() && k.getDownTime() > 0, "key times");
			Rec.log("inject via=" + via + " mode=" + mode + " key action=" + k.getAction() + " code=" + k.getKeyCode()
					+ " repeat=" + k.getRepeatCount() + " meta=" + k.getMetaState() + " device=" + k.getDeviceId()
					+ " scancode=" + k.getScanCode() + " flags=" + k.getFlags() + " source=" + k.getSource()
					+ " down=" + k.getDownTime() + " time=" + k.getEventTime());
			if (k.getKeyCode() == 999) {
				return false;
			}
			if (k.getKeyCode() == 998) {
				throw new SecurityException("stub: injection denied");
			}
			return true;
		}
		MotionEvent m = (MotionEvent) e;
		Rec.check(m.getEventTime() >= m.getDownTime() && m.getDownTime() > 0, "motion times");
		StringBuilder b = new StringBuilder();
		b.append("inject via=").append(via).append(" mode=").append(mode).append(" motion action=").append(m.getAction())
				.append(" source=").append(m.getSource()).append(" n=").append(m.getPointerCount()).append(" ptrs=");
		for (int i = 0; i < m.getPointerCount(); i++) {
			if (i > 0) {
				b.append(',');
			}
			b.append(m.getPointerId(i)).append(':').append(fmt(m.getX(i))).append(':').append(fmt(m.getY(i)))
					.append(':').append(fmt(m.getPressure(i))).append(':').append(m.getToolType(i));
		}
		b.append(" h=").append(fmt(m.getAxisValue(MotionEvent.AXIS_HSCROLL, 0)))
				.append(" v=").append(fmt(m.getAxisValue(MotionEvent.AXIS_VSCROLL, 0)))
				.append(" meta=").append(m.getMetaState()).append(" buttons=").append(m.getButtonState())
				.append(" device=").append(m.getDeviceId()).append(" flags=").append(m.getFlags())
				.append(" down=").append(m.getDownTime()).append(" time=").append(m.getEventTime());
		Rec.log(b.toString());
		return true;
	}

	private static String fmt(float f) {
		return f == (long) f ? Long.toString((long) f) : Float.toString(f);
	}
}
