package android.os;

public final class Looper {
	private static boolean prepared;

	public static synchronized void prepareMainLooper() {
		if (prepared) {
			throw new IllegalStateException("The main Looper has already been prepared.");
		}
		prepared = true;
		stub.Rec.log("looper prepareMainLooper");
	}
}
