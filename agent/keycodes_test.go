package agent

import "testing"

// TestKeyCode checks names against KeyEvent.java's values, along the list
// (an off-by-one anywhere shifts everything after it).
func TestKeyCode(t *testing.T) {
	for key, want := range map[string]int{
		"KEYCODE_HOME": 3, "KEYCODE_BACK": 4, "KEYCODE_0": 7, "KEYCODE_9": 16,
		"KEYCODE_DPAD_UP": 19, "KEYCODE_POWER": 26, "KEYCODE_A": 29, "KEYCODE_Z": 54,
		"KEYCODE_TAB": 61, "KEYCODE_ENTER": 66, "KEYCODE_DEL": 67, "KEYCODE_SLASH": 76,
		"KEYCODE_MENU": 82, "KEYCODE_PAGE_DOWN": 93, "KEYCODE_BUTTON_A": 96,
		"KEYCODE_ESCAPE": 111, "KEYCODE_FORWARD_DEL": 112, "KEYCODE_META_LEFT": 117,
		"KEYCODE_MOVE_HOME": 122, "KEYCODE_MOVE_END": 123, "KEYCODE_MEDIA_PLAY": 126,
		"KEYCODE_F1": 131, "KEYCODE_F12": 142, "KEYCODE_NUM_LOCK": 143, "KEYCODE_NUMPAD_0": 144,
		"KEYCODE_NUMPAD_ENTER": 160, "KEYCODE_VOLUME_MUTE": 164, "KEYCODE_ZOOM_OUT": 169,
		"KEYCODE_APP_SWITCH": 187, "KEYCODE_WAKEUP": 224, "KEYCODE_PASTE": 279,
		"42": 42, "0": 0, "1000": 1000,
	} {
		if got, ok := KeyCode(key); !ok || got != want {
			t.Errorf("KeyCode(%q) = %d, %v; want %d", key, got, ok, want)
		}
	}
	for _, key := range []string{"", "HOME", "KEYCODE_NOPE", "-1", "1001", "KEYCODE_"} {
		if got, ok := KeyCode(key); ok {
			t.Errorf("KeyCode(%q) = %d, want refused", key, got)
		}
	}
}
