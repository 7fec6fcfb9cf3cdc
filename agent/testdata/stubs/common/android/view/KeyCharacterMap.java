package android.view;

import android.os.SystemClock;
import java.util.ArrayList;
import java.util.List;

/**
 * KeyCharacterMap types a-z, A-Z (with shift), 0-9 and space, like a
 * small virtual keyboard; getEvents returns null for anything else.
 */
public class KeyCharacterMap {
	public static final int VIRTUAL_KEYBOARD = -1;

	private KeyCharacterMap() {}

	public static KeyCharacterMap load(int deviceId) {
		stub.Rec.check(deviceId == VIRTUAL_KEYBOARD, "KeyCharacterMap.load(" + deviceId + ")");
		return new KeyCharacterMap();
	}

	public KeyEvent[] getEvents(char[] chars) {
		stub.Rec.check(chars != null, "getEvents(null)");
		long now = SystemClock.uptimeMillis();
		List<KeyEvent> out = new ArrayList<>();
		for (char c : chars) {
			int code, meta = 0;
			if (c >= 'a' && c <= 'z') {
				code = 29 + c - 'a';
			} else if (c >= 'A' && c <= 'Z') {
				code = 29 + c - 'A';
				meta = 1; // META_SHIFT_ON
			} else if (c >= '0' && c <= '9') {
				code = 7 + c - '0';
			} else if (c == ' ') {
				code = 62;
			} else {
				return null;
			}
			if (meta != 0) {
				out.add(new KeyEvent(now, now, 0, 59, 0, meta, -1, 0, 0, 0x101));
			}
			out.add(new KeyEvent(now, now, 0, code, 0, meta, -1, 0, 0, 0x101));
			out.add(new KeyEvent(now, now, 1, code, 0, meta, -1, 0, 0, 0x101));
			if (meta != 0) {
				out.add(new KeyEvent(now, now, 1, 59, 0, 0, -1, 0, 0, 0x101));
			}
		}
		return out.toArray(new KeyEvent[0]);
	}
}
