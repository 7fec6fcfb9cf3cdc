package stub;

import android.content.ClipData;

/** Clipboard is the device's clipboard, shared by the IClipboard stubs. */
public final class Clipboard {
	private Clipboard() {}

	private static ClipData clip;

	public static synchronized ClipData get() {
		String ext = Rec.external();
		if (ext != null) {
			clip = ClipData.newPlainText("external", ext);
			Rec.log("clip external text=" + Rec.hex(ext));
		}
		return clip;
	}

	public static synchronized void set(ClipData c, String how) {
		Rec.check(c != null && c.getItemCount() == 1, "clip");
		clip = c;
		CharSequence text = c.getItemAt(0).getText();
		String what = text != null && text.length() > 4096 ? "big=" + text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length : "text=" + Rec.hex(text);
		Rec.log("clip set label=" + Rec.hex(c.getDescriptionLabel()) + " " + what + " " + how);
	}
}
