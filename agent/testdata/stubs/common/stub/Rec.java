package stub;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Rec records what the agent does: one line per call on stdout. */
public final class Rec {
	private Rec() {}

	public static synchronized void log(String line) {
		System.out.println("stub " + line);
		System.out.flush();
	}

	/** hex is s in UTF-8, in hex ("-" for null): stdout may not be UTF-8. */
	public static String hex(CharSequence s) {
		if (s == null) {
			return "-";
		}
		StringBuilder b = new StringBuilder();
		for (byte c : s.toString().getBytes(StandardCharsets.UTF_8)) {
			b.append(String.format("%02x", c & 0xff));
		}
		return b.length() == 0 ? "=" : b.toString();
	}

	/** dir is the directory of the sockets and test hooks. */
	public static Path dir() {
		String d = System.getProperty("stub.socketdir");
		if (d == null) {
			throw new IllegalStateException("stub.socketdir is not set");
		}
		return Path.of(d);
	}

	/** check throws unless ok: a stub's argument check. */
	public static void check(boolean ok, String what) {
		if (!ok) {
			log("bad-argument " + what);
			throw new IllegalArgumentException("stub: " + what);
		}
	}

	/** external reads and removes the clip-external hook file, or null. */
	public static String external() {
		Path p = dir().resolve("clip-external");
		try {
			if (!Files.exists(p)) {
				return null;
			}
			String s = Files.readString(p, StandardCharsets.UTF_8);
			Files.delete(p);
			return s;
		} catch (java.io.IOException e) {
			throw new IllegalStateException(e);
		}
	}
}
