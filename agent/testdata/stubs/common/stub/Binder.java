package stub;

import android.os.IBinder;

/** Binder is what the stub ServiceManager returns. */
public final class Binder implements IBinder {
	public final String name;

	public Binder(String name) {
		this.name = name;
	}
}
