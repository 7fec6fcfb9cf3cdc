package android.net;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;

/** LocalServerSocket listens on the UNIX socket stub.socketdir/NAME. */
public class LocalServerSocket implements java.io.Closeable {
	private final ServerSocketChannel ch;

	public LocalServerSocket(String name) throws IOException {
		ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
		ch.bind(UnixDomainSocketAddress.of(stub.Rec.dir().resolve(name)));
	}

	public LocalSocket accept() throws IOException {
		return new LocalSocket(ch.accept());
	}

	public void close() throws IOException {
		ch.close();
	}
}
