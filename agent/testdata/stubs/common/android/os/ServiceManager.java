package android.os;

public final class ServiceManager {
	public static IBinder getService(String name) {
		if (name.equals("clipboard") || name.equals("window")) {
			return new stub.Binder(name);
		}
		return null;
	}
}
