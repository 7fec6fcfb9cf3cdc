package android.os;

public final class SystemClock {
	private SystemClock() {}

	private static final long START = System.nanoTime();

	/** uptimeMillis starts at 1000: a device's uptime is never 0. */
	public static long uptimeMillis() {
		return 1000 + (System.nanoTime() - START) / 1000000;
	}
}
