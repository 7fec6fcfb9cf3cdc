.class final Lcom/cloudphone/agent/Conn;
.super Ljava/lang/Thread;

# One connection, on its own thread: the first frame must be a Hello with
# the secret (within 10 s), else the connection is closed; then frames are
# read and handled one by one, under Input.LOCK, until the connection ends,
# a frame is malformed (length 0 or over 1 MiB: the connection is closed)
# or another connection takes over. Frames are
#   u32 length | u8 type | payload (length-1 bytes)
# big endian. Replies and clipboard reports are written whole under this
# object's lock (send), as the poller thread writes too.

.field final sock:Landroid/net/LocalSocket;

# The buffered writer: written only under this object's lock.
.field out:Ljava/io/DataOutputStream;


.method constructor <init>(Landroid/net/LocalSocket;)V
    .locals 1

    const-string v0, "media-agent-conn"
    invoke-direct {p0, v0}, Ljava/lang/Thread;-><init>(Ljava/lang/String;)V
    iput-object p1, p0, Lcom/cloudphone/agent/Conn;->sock:Landroid/net/LocalSocket;
    const/4 v0, 0x1
    invoke-virtual {p0, v0}, Lcom/cloudphone/agent/Conn;->setDaemon(Z)V
    return-void
.end method


.method public run()V
    .locals 0

    :try_serve
    invoke-direct {p0}, Lcom/cloudphone/agent/Conn;->serve()V
    :try_serve_end
    .catch Ljava/lang/Throwable; {:try_serve .. :try_serve_end} :end

    :end
    invoke-virtual {p0}, Lcom/cloudphone/agent/Conn;->close()V
    invoke-static {p0}, Lcom/cloudphone/agent/Main;->release(Lcom/cloudphone/agent/Conn;)V
    return-void
.end method


.method private serve()V
    .locals 6

    # v1 = the reader, this.out = the writer (64 KiB buffers)
    iget-object v0, p0, Lcom/cloudphone/agent/Conn;->sock:Landroid/net/LocalSocket;
    const/high16 v4, 0x10000
    new-instance v1, Ljava/io/DataInputStream;
    new-instance v2, Ljava/io/BufferedInputStream;
    invoke-virtual {v0}, Landroid/net/LocalSocket;->getInputStream()Ljava/io/InputStream;
    move-result-object v3
    invoke-direct {v2, v3, v4}, Ljava/io/BufferedInputStream;-><init>(Ljava/io/InputStream;I)V
    invoke-direct {v1, v2}, Ljava/io/DataInputStream;-><init>(Ljava/io/InputStream;)V
    new-instance v2, Ljava/io/DataOutputStream;
    new-instance v3, Ljava/io/BufferedOutputStream;
    invoke-virtual {v0}, Landroid/net/LocalSocket;->getOutputStream()Ljava/io/OutputStream;
    move-result-object v5
    invoke-direct {v3, v5, v4}, Ljava/io/BufferedOutputStream;-><init>(Ljava/io/OutputStream;I)V
    invoke-direct {v2, v3}, Ljava/io/DataOutputStream;-><init>(Ljava/io/OutputStream;)V
    iput-object v2, p0, Lcom/cloudphone/agent/Conn;->out:Ljava/io/DataOutputStream;

    # Hello, within 10 s, with the secret: else the connection is closed
    const/16 v2, 0x2710
    invoke-direct {p0, v2}, Lcom/cloudphone/agent/Conn;->timeout(I)V
    invoke-static {v1}, Lcom/cloudphone/agent/Conn;->read(Ljava/io/DataInputStream;)[B
    move-result-object v2
    if-eqz v2, :end
    const/4 v3, 0x0
    aget-byte v3, v2, v3
    const/4 v4, 0x1
    if-ne v3, v4, :end
    array-length v3, v2
    invoke-static {v2, v4, v3}, Ljava/util/Arrays;->copyOfRange([BII)[B
    move-result-object v2
    sget-object v3, Lcom/cloudphone/agent/Main;->secret:[B
    invoke-static {v2, v3}, Ljava/security/MessageDigest;->isEqual([B[B)Z
    move-result v2
    if-eqz v2, :end

    # the current connection now: the previous one is closed, and a
    # gesture it left down is cancelled
    const/4 v2, 0x0
    invoke-direct {p0, v2}, Lcom/cloudphone/agent/Conn;->timeout(I)V
    invoke-static {p0}, Lcom/cloudphone/agent/Main;->takeOver(Lcom/cloudphone/agent/Conn;)V
    const/4 v2, 0x0
    invoke-virtual {p0, v2}, Lcom/cloudphone/agent/Conn;->locked([B)V
    invoke-virtual {p0}, Lcom/cloudphone/agent/Conn;->sendReady()V

    :loop
    invoke-static {v1}, Lcom/cloudphone/agent/Conn;->read(Ljava/io/DataInputStream;)[B
    move-result-object v2
    if-eqz v2, :end
    invoke-static {p0}, Lcom/cloudphone/agent/Main;->isCurrent(Lcom/cloudphone/agent/Conn;)Z
    move-result v3
    if-eqz v3, :end
    invoke-virtual {p0, v2}, Lcom/cloudphone/agent/Conn;->locked([B)V
    goto :loop

    :end
    return-void
.end method


# timeout sets the socket's read timeout (0: none), if it can.
.method private timeout(I)V
    .locals 1

    iget-object v0, p0, Lcom/cloudphone/agent/Conn;->sock:Landroid/net/LocalSocket;
    :try_set
    invoke-virtual {v0, p1}, Landroid/net/LocalSocket;->setSoTimeout(I)V
    :try_set_end
    .catch Ljava/lang/Throwable; {:try_set .. :try_set_end} :done
    :done
    return-void
.end method


# read reads one frame: its type byte and payload, or null when its length
# is out of 1..1 MiB. It throws at the end of the stream.
.method static read(Ljava/io/DataInputStream;)[B
    .locals 3

    invoke-virtual {p0}, Ljava/io/DataInputStream;->readInt()I
    move-result v0
    if-lez v0, :bad
    const/high16 v1, 0x100000
    if-gt v0, v1, :bad
    new-array v2, v0, [B
    invoke-virtual {p0, v2}, Ljava/io/DataInputStream;->readFully([B)V
    return-object v2
    :bad
    const/4 v2, 0x0
    return-object v2
.end method


# locked handles frame f (type and payload) under Input.LOCK; a null f
# cancels the gesture in progress, if any.
.method locked([B)V
    .locals 2

    sget-object v0, Lcom/cloudphone/agent/Input;->LOCK:Ljava/lang/Object;
    monitor-enter v0
    :try_start_0
    invoke-direct {p0, p1}, Lcom/cloudphone/agent/Conn;->handle([B)V
    monitor-exit v0
    :try_end_0
    .catchall {:try_start_0 .. :try_end_0} :catchall_0
    return-void

    :catchall_0
    move-exception v1
    :try_start_1
    monitor-exit v0
    :try_end_1
    .catchall {:try_start_1 .. :try_end_1} :catchall_0
    throw v1
.end method


# handle handles one frame. Unknown types are skipped; a request that
# fails is answered with an Error.
.method private handle([B)V
    .locals 10

    if-nez p1, :frame
    invoke-static {}, Lcom/cloudphone/agent/Input;->reset()V
    return-void

    :frame
    # v0 = type, v1 = payload length, v2 = payload reader (big endian)
    const/4 v0, 0x0
    aget-byte v0, p1, v0
    and-int/lit16 v0, v0, 0xff
    array-length v1, p1
    add-int/lit8 v1, v1, -0x1
    const/4 v2, 0x1
    invoke-static {p1, v2, v1}, Ljava/nio/ByteBuffer;->wrap([BII)Ljava/nio/ByteBuffer;
    move-result-object v2

    :try_start
    sparse-switch v0, :types
    # an unknown type (or a second Hello): skipped
    goto :done

    # Ping: u32 seq
    :ping
    const/4 v3, 0x4
    if-ne v1, v3, :bad_length
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v3
    invoke-virtual {p0, v3}, Lcom/cloudphone/agent/Conn;->sendPong(I)V
    goto :done

    # Touch: u8 action, u8 pointer, i32 x, i32 y, u16 pressure
    :touch
    const/16 v3, 0xc
    if-ne v1, v3, :bad_length
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->get()B
    move-result v3
    and-int/lit16 v3, v3, 0xff
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->get()B
    move-result v4
    and-int/lit16 v4, v4, 0xff
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v5
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v6
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getShort()S
    move-result v7
    const v8, 0xffff
    and-int/2addr v7, v8
    invoke-static/range {v3 .. v7}, Lcom/cloudphone/agent/Input;->touch(IIIII)V
    goto :done

    # Scroll: i32 x, i32 y, f32 h, f32 v
    :scroll
    const/16 v3, 0x10
    if-ne v1, v3, :bad_length
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v3
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v4
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getFloat()F
    move-result v5
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getFloat()F
    move-result v6
    invoke-static {v3, v4, v5, v6}, Lcom/cloudphone/agent/Input;->scroll(IIFF)V
    goto :done

    # Key: u8 action, i32 code, i32 repeat, i32 meta
    :key
    const/16 v3, 0xd
    if-ne v1, v3, :bad_length
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->get()B
    move-result v3
    and-int/lit16 v3, v3, 0xff
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v4
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v5
    invoke-virtual {v2}, Ljava/nio/ByteBuffer;->getInt()I
    move-result v6
    invoke-static {v3, v4, v5, v6}, Lcom/cloudphone/agent/Input;->key(IIII)V
    goto :done

    # Text: UTF-8
    :text
    if-lez v1, :bad_length
    new-instance v3, Ljava/lang/String;
    const/4 v4, 0x1
    const-string v5, "UTF-8"
    invoke-direct {v3, p1, v4, v1, v5}, Ljava/lang/String;-><init>([BIILjava/lang/String;)V
    invoke-static {v3}, Lcom/cloudphone/agent/Input;->text(Ljava/lang/String;)V
    goto :done

    # SetClipboard: u8 paste, UTF-8
    :set_clipboard
    if-lez v1, :bad_length
    const/4 v3, 0x1
    aget-byte v3, p1, v3
    new-instance v4, Ljava/lang/String;
    const/4 v5, 0x2
    add-int/lit8 v6, v1, -0x1
    const-string v7, "UTF-8"
    invoke-direct {v4, p1, v5, v6, v7}, Ljava/lang/String;-><init>([BIILjava/lang/String;)V
    invoke-static {v4}, Lcom/cloudphone/agent/Clip;->set(Ljava/lang/String;)V
    if-eqz v3, :done
    invoke-static {}, Lcom/cloudphone/agent/Input;->paste()V
    goto :done

    # GetClipboard: answered with Clipboard(changed 0, text or "")
    :get_clipboard
    invoke-static {}, Lcom/cloudphone/agent/Clip;->text()Ljava/lang/String;
    move-result-object v3
    if-nez v3, :get_clipboard_send
    const-string v3, ""
    :get_clipboard_send
    const/4 v4, 0x0
    invoke-virtual {p0, v4, v3}, Lcom/cloudphone/agent/Conn;->sendClipboard(ILjava/lang/String;)V
    goto :done

    # Rotate: i8 rotation
    :rotate
    const/4 v3, 0x1
    if-ne v1, v3, :bad_length
    aget-byte v3, p1, v3
    invoke-static {v3}, Lcom/cloudphone/agent/Window;->rotate(I)V
    goto :done

    # Screen: u8 on: KEYCODE_WAKEUP (224) or KEYCODE_SLEEP (223)
    :screen
    const/4 v3, 0x1
    if-ne v1, v3, :bad_length
    aget-byte v3, p1, v3
    const/16 v4, 0xdf
    if-eqz v3, :screen_press
    const/16 v4, 0xe0
    :screen_press
    const/4 v3, 0x0
    invoke-static {v4, v3}, Lcom/cloudphone/agent/Input;->press(II)V
    goto :done

    :bad_length
    new-instance v3, Ljava/lang/StringBuilder;
    const-string v4, "malformed payload of "
    invoke-direct {v3, v4}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v3, v1}, Ljava/lang/StringBuilder;->append(I)Ljava/lang/StringBuilder;
    const-string v4, " bytes"
    invoke-virtual {v3, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v3}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v3
    new-instance v4, Ljava/lang/IllegalArgumentException;
    invoke-direct {v4, v3}, Ljava/lang/IllegalArgumentException;-><init>(Ljava/lang/String;)V
    throw v4
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :failed

    :done
    return-void

    :failed
    move-exception v3
    invoke-virtual {p0, v0, v3}, Lcom/cloudphone/agent/Conn;->sendError(ILjava/lang/Throwable;)V
    return-void

    :types
    .sparse-switch
        0x2 -> :ping
        0x10 -> :touch
        0x11 -> :scroll
        0x12 -> :key
        0x13 -> :text
        0x14 -> :set_clipboard
        0x15 -> :get_clipboard
        0x16 -> :rotate
        0x17 -> :screen
    .end sparse-switch
.end method


# sendReady sends Ready: i32 sdk, version.
.method sendReady()V
    .locals 4

    new-instance v0, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v0}, Ljava/io/ByteArrayOutputStream;-><init>()V
    new-instance v1, Ljava/io/DataOutputStream;
    invoke-direct {v1, v0}, Ljava/io/DataOutputStream;-><init>(Ljava/io/OutputStream;)V
    sget v2, Landroid/os/Build$VERSION;->SDK_INT:I
    invoke-virtual {v1, v2}, Ljava/io/DataOutputStream;->writeInt(I)V
    sget-object v2, Lcom/cloudphone/agent/Main;->VERSION:Ljava/lang/String;
    invoke-virtual {v1, v2}, Ljava/io/DataOutputStream;->writeBytes(Ljava/lang/String;)V
    const/16 v2, 0x81
    invoke-virtual {v0}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v3
    invoke-virtual {p0, v2, v3}, Lcom/cloudphone/agent/Conn;->send(I[B)V
    return-void
.end method


# sendPong sends Pong: u32 seq, i64 uptime ms, version.
.method sendPong(I)V
    .locals 4

    new-instance v0, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v0}, Ljava/io/ByteArrayOutputStream;-><init>()V
    new-instance v1, Ljava/io/DataOutputStream;
    invoke-direct {v1, v0}, Ljava/io/DataOutputStream;-><init>(Ljava/io/OutputStream;)V
    invoke-virtual {v1, p1}, Ljava/io/DataOutputStream;->writeInt(I)V
    invoke-static {}, Landroid/os/SystemClock;->uptimeMillis()J
    move-result-wide v2
    invoke-virtual {v1, v2, v3}, Ljava/io/DataOutputStream;->writeLong(J)V
    sget-object v2, Lcom/cloudphone/agent/Main;->VERSION:Ljava/lang/String;
    invoke-virtual {v1, v2}, Ljava/io/DataOutputStream;->writeBytes(Ljava/lang/String;)V
    const/16 v2, 0x82
    invoke-virtual {v0}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v3
    invoke-virtual {p0, v2, v3}, Lcom/cloudphone/agent/Conn;->send(I[B)V
    return-void
.end method


# sendClipboard sends Clipboard: u8 changed, text (cut to agent.MaxText
# bytes, at a character boundary).
.method sendClipboard(ILjava/lang/String;)V
    .locals 4

    new-instance v0, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v0}, Ljava/io/ByteArrayOutputStream;-><init>()V
    invoke-virtual {v0, p1}, Ljava/io/ByteArrayOutputStream;->write(I)V
    const v1, 0xffffe
    invoke-static {p2, v1}, Lcom/cloudphone/agent/Conn;->utf8(Ljava/lang/String;I)[B
    move-result-object v1
    array-length v2, v1
    const/4 v3, 0x0
    invoke-virtual {v0, v1, v3, v2}, Ljava/io/ByteArrayOutputStream;->write([BII)V
    const/16 v1, 0x83
    invoke-virtual {v0}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v2
    invoke-virtual {p0, v1, v2}, Lcom/cloudphone/agent/Conn;->send(I[B)V
    return-void
.end method


# sendError sends Error: u8 the request's type, message (at most 4 KiB).
.method sendError(ILjava/lang/Throwable;)V
    .locals 4

    invoke-static {p2}, Lcom/cloudphone/agent/Conn;->describe(Ljava/lang/Throwable;)Ljava/lang/String;
    move-result-object v1
    const/16 v2, 0x1000
    invoke-static {v1, v2}, Lcom/cloudphone/agent/Conn;->utf8(Ljava/lang/String;I)[B
    move-result-object v1
    new-instance v0, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v0}, Ljava/io/ByteArrayOutputStream;-><init>()V
    invoke-virtual {v0, p1}, Ljava/io/ByteArrayOutputStream;->write(I)V
    array-length v2, v1
    const/4 v3, 0x0
    invoke-virtual {v0, v1, v3, v2}, Ljava/io/ByteArrayOutputStream;->write([BII)V
    const/16 v1, 0x84
    invoke-virtual {v0}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v2
    invoke-virtual {p0, v1, v2}, Lcom/cloudphone/agent/Conn;->send(I[B)V
    return-void
.end method


# describe is an exception's class and message, that of the cause for an
# exception thrown through reflection.
.method static describe(Ljava/lang/Throwable;)Ljava/lang/String;
    .locals 2

    :unwrap
    instance-of v0, p0, Ljava/lang/reflect/InvocationTargetException;
    if-eqz v0, :done
    invoke-virtual {p0}, Ljava/lang/Throwable;->getCause()Ljava/lang/Throwable;
    move-result-object v1
    if-eqz v1, :done
    move-object p0, v1
    goto :unwrap
    :done
    invoke-virtual {p0}, Ljava/lang/Throwable;->toString()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method


# utf8 is s in UTF-8, cut to at most max bytes at a character boundary.
.method static utf8(Ljava/lang/String;I)[B
    .locals 4

    const-string v0, "UTF-8"
    invoke-virtual {p0, v0}, Ljava/lang/String;->getBytes(Ljava/lang/String;)[B
    move-result-object v0
    array-length v1, v0
    if-le v1, p1, :whole
    # cut before the character that byte max belongs to
    move v1, p1
    :back
    if-lez v1, :cut
    aget-byte v2, v0, v1
    and-int/lit16 v2, v2, 0xc0
    const/16 v3, 0x80
    if-ne v2, v3, :cut
    add-int/lit8 v1, v1, -0x1
    goto :back
    :cut
    invoke-static {v0, v1}, Ljava/util/Arrays;->copyOf([BI)[B
    move-result-object v0
    :whole
    return-object v0
.end method


# send writes one frame whole, under this object's lock.
.method send(I[B)V
    .locals 1

    monitor-enter p0
    :try_start_0
    invoke-direct {p0, p1, p2}, Lcom/cloudphone/agent/Conn;->write(I[B)V
    monitor-exit p0
    :try_end_0
    .catchall {:try_start_0 .. :try_end_0} :catchall_0
    return-void

    :catchall_0
    move-exception v0
    :try_start_1
    monitor-exit p0
    :try_end_1
    .catchall {:try_start_1 .. :try_end_1} :catchall_0
    throw v0
.end method


# write writes and flushes one frame; the connection is closed when that
# fails (its reader then ends).
.method private write(I[B)V
    .locals 2

    iget-object v0, p0, Lcom/cloudphone/agent/Conn;->out:Ljava/io/DataOutputStream;
    :try_write
    array-length v1, p2
    add-int/lit8 v1, v1, 0x1
    invoke-virtual {v0, v1}, Ljava/io/DataOutputStream;->writeInt(I)V
    invoke-virtual {v0, p1}, Ljava/io/DataOutputStream;->writeByte(I)V
    invoke-virtual {v0, p2}, Ljava/io/DataOutputStream;->write([B)V
    invoke-virtual {v0}, Ljava/io/DataOutputStream;->flush()V
    :try_write_end
    .catch Ljava/lang/Throwable; {:try_write .. :try_write_end} :failed
    return-void

    :failed
    invoke-virtual {p0}, Lcom/cloudphone/agent/Conn;->close()V
    return-void
.end method


# close shuts the socket down and closes it (which wakes its reader);
# errors are ignored. Any thread may call it, any number of times.
.method close()V
    .locals 1

    iget-object v0, p0, Lcom/cloudphone/agent/Conn;->sock:Landroid/net/LocalSocket;
    :try_in
    invoke-virtual {v0}, Landroid/net/LocalSocket;->shutdownInput()V
    :try_in_end
    .catch Ljava/lang/Throwable; {:try_in .. :try_in_end} :out

    :out
    :try_out
    invoke-virtual {v0}, Landroid/net/LocalSocket;->shutdownOutput()V
    :try_out_end
    .catch Ljava/lang/Throwable; {:try_out .. :try_out_end} :close

    :close
    :try_close
    invoke-virtual {v0}, Landroid/net/LocalSocket;->close()V
    :try_close_end
    .catch Ljava/lang/Throwable; {:try_close .. :try_close_end} :done

    :done
    return-void
.end method
