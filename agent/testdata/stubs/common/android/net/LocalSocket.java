package android.net;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * LocalSocket over a UNIX SocketChannel. Its streams call the channel
 * directly (not Channels.newInputStream, which would lock reads against
 * writes), so one thread can write while another is blocked reading, as
 * on Android.
 */
public class LocalSocket implements java.io.Closeable {
	private final SocketChannel ch;

	LocalSocket(SocketChannel ch) {
		this.ch = ch;
	}

	public InputStream getInputStream() {
		return new InputStream() {
			@Override
			public int read() throws IOException {
				byte[] b = new byte[1];
				return read(b, 0, 1) < 0 ? -1 : b[0] & 0xff;
			}

			@Override
			public int read(byte[] b, int off, int len) throws IOException {
				if (len == 0) {
					return 0;
				}
				return ch.read(ByteBuffer.wrap(b, off, len));
			}
		};
	}

	public OutputStream getOutputStream() {
		return new OutputStream() {
			@Override
			public void write(int b) throws IOException {
				write(new byte[] {(byte) b}, 0, 1);
			}

			@Override
			public void write(byte[] b, int off, int len) throws IOException {
				ByteBuffer buf = ByteBuffer.wrap(b, off, len);
				while (buf.hasRemaining()) {
					ch.write(buf);
				}
			}
		};
	}

	/** setSoTimeout is recorded only: channels have no read timeout. */
	public void setSoTimeout(int ms) throws IOException {
		if (!ch.isOpen()) {
			throw new IOException("socket closed");
		}
	}

	public void shutdownInput() throws IOException {
		ch.shutdownInput();
	}

	public void shutdownOutput() throws IOException {
		ch.shutdownOutput();
	}

	public void close() throws IOException {
		ch.close();
	}
}
