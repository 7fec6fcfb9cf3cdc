.class public final Lcom/cloudphone/agent/Main;
.super Ljava/lang/Object;

# The media-agent (agent/doc.go is the protocol), started from the device's
# shell as
#
#   CLASSPATH=/data/local/tmp/media-agent.dex app_process / com.cloudphone.agent.Main SOCKET SECRET
#
# It listens on the abstract local socket SOCKET, prints
# "media-agent VERSION listening on @SOCKET" and serves connections. Each
# accepted connection gets a Conn thread. A connection that passes Hello
# becomes the current one and closes the one before it: at most one
# connection is served at a time, and a stale (half-open) connection never
# keeps the service's next one waiting, while one that has not said Hello
# disturbs nothing. Android 5 (API 21) to 15: anything newer than API 21
# is reached by reflection only (Input, Clip, Window).

# The agent's version, in Ready, Pong and the listening line: agent.Version
# in wire.go.
.field static final VERSION:Ljava/lang/String; = "1"

# The connection being served (a Conn), or null.
.field static final current:Ljava/util/concurrent/atomic/AtomicReference;

# The ASCII bytes of SECRET: the first frame must be a Hello carrying them.
.field static secret:[B


.method static constructor <clinit>()V
    .locals 1

    new-instance v0, Ljava/util/concurrent/atomic/AtomicReference;
    invoke-direct {v0}, Ljava/util/concurrent/atomic/AtomicReference;-><init>()V
    sput-object v0, Lcom/cloudphone/agent/Main;->current:Ljava/util/concurrent/atomic/AtomicReference;
    return-void
.end method


.method public static main([Ljava/lang/String;)V
    .locals 6

    # args: SOCKET SECRET, else usage and exit 2
    array-length v0, p0
    const/4 v1, 0x2
    if-ne v0, v1, :usage
    const/4 v1, 0x0
    aget-object v2, p0, v1
    const-string v3, "[A-Za-z0-9._-]{1,100}"
    invoke-virtual {v2, v3}, Ljava/lang/String;->matches(Ljava/lang/String;)Z
    move-result v3
    if-eqz v3, :usage
    const/4 v1, 0x1
    aget-object v4, p0, v1
    const-string v3, "[0-9A-Fa-f]{16,64}"
    invoke-virtual {v4, v3}, Ljava/lang/String;->matches(Ljava/lang/String;)Z
    move-result v3
    if-eqz v3, :usage

    # v2 = SOCKET; secret = the ASCII bytes of SECRET
    const-string v3, "UTF-8"
    invoke-virtual {v4, v3}, Ljava/lang/String;->getBytes(Ljava/lang/String;)[B
    move-result-object v3
    sput-object v3, Lcom/cloudphone/agent/Main;->secret:[B

    # A main looper, as scrcpy prepares one: some framework code wants it.
    # Tolerated when it fails (already prepared, or not available).
    :try_looper
    invoke-static {}, Landroid/os/Looper;->prepareMainLooper()V
    :try_looper_end
    .catch Ljava/lang/Throwable; {:try_looper .. :try_looper_end} :listen

    :listen
    new-instance v0, Landroid/net/LocalServerSocket;
    :try_listen
    invoke-direct {v0, v2}, Landroid/net/LocalServerSocket;-><init>(Ljava/lang/String;)V
    :try_listen_end
    .catch Ljava/lang/Throwable; {:try_listen .. :try_listen_end} :listen_failed

    # the one line on stdout: media-agent VERSION listening on @SOCKET
    new-instance v3, Ljava/lang/StringBuilder;
    const-string v5, "media-agent "
    invoke-direct {v3, v5}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    sget-object v5, Lcom/cloudphone/agent/Main;->VERSION:Ljava/lang/String;
    invoke-virtual {v3, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v5, " listening on @"
    invoke-virtual {v3, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v3, v2}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v3}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v3
    sget-object v1, Ljava/lang/System;->out:Ljava/io/PrintStream;
    invoke-virtual {v1, v3}, Ljava/io/PrintStream;->println(Ljava/lang/String;)V
    invoke-virtual {v1}, Ljava/io/PrintStream;->flush()V

    # the lifeline: the agent ends with the shell that started it
    new-instance v1, Lcom/cloudphone/agent/StdinWatch;
    invoke-direct {v1}, Lcom/cloudphone/agent/StdinWatch;-><init>()V
    invoke-virtual {v1}, Lcom/cloudphone/agent/StdinWatch;->start()V

    # the clipboard poller (a daemon thread)
    new-instance v1, Lcom/cloudphone/agent/Poller;
    invoke-direct {v1}, Lcom/cloudphone/agent/Poller;-><init>()V
    invoke-virtual {v1}, Lcom/cloudphone/agent/Poller;->start()V

    # accept forever; each connection on its own thread
    :accept
    :try_accept
    invoke-virtual {v0}, Landroid/net/LocalServerSocket;->accept()Landroid/net/LocalSocket;
    move-result-object v1
    :try_accept_end
    .catch Ljava/lang/Throwable; {:try_accept .. :try_accept_end} :accept_failed
    new-instance v3, Lcom/cloudphone/agent/Conn;
    invoke-direct {v3, v1}, Lcom/cloudphone/agent/Conn;-><init>(Landroid/net/LocalSocket;)V
    invoke-virtual {v3}, Lcom/cloudphone/agent/Conn;->start()V
    goto :accept

    :accept_failed
    move-exception v1
    const-string v3, "media-agent: accept: "
    invoke-static {v3, v1}, Lcom/cloudphone/agent/Main;->fail(Ljava/lang/String;Ljava/lang/Object;)V
    return-void

    :listen_failed
    move-exception v1
    const-string v3, "media-agent: listen: "
    invoke-static {v3, v1}, Lcom/cloudphone/agent/Main;->fail(Ljava/lang/String;Ljava/lang/Object;)V
    return-void

    :usage
    sget-object v0, Ljava/lang/System;->err:Ljava/io/PrintStream;
    const-string v1, "usage: CLASSPATH=/data/local/tmp/media-agent.dex app_process / com.cloudphone.agent.Main SOCKET SECRET\n  SOCKET  the abstract socket to listen on: 1 to 100 of A-Z a-z 0-9 . _ -\n  SECRET  16 to 64 hex digits: the first frame of a connection must be a Hello with them"
    invoke-virtual {v0, v1}, Ljava/io/PrintStream;->println(Ljava/lang/String;)V
    const/4 v0, 0x2
    invoke-static {v0}, Ljava/lang/System;->exit(I)V
    return-void
.end method


# fail prints what and why on stderr and exits 1.
.method static fail(Ljava/lang/String;Ljava/lang/Object;)V
    .locals 2

    new-instance v0, Ljava/lang/StringBuilder;
    invoke-direct {v0, p0}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v0, p1}, Ljava/lang/StringBuilder;->append(Ljava/lang/Object;)Ljava/lang/StringBuilder;
    invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    sget-object v1, Ljava/lang/System;->err:Ljava/io/PrintStream;
    invoke-virtual {v1, v0}, Ljava/io/PrintStream;->println(Ljava/lang/String;)V
    const/4 v0, 0x1
    invoke-static {v0}, Ljava/lang/System;->exit(I)V
    return-void
.end method


# takeOver makes c the current connection and closes the one before it.
.method static takeOver(Lcom/cloudphone/agent/Conn;)V
    .locals 2

    sget-object v0, Lcom/cloudphone/agent/Main;->current:Ljava/util/concurrent/atomic/AtomicReference;
    invoke-virtual {v0, p0}, Ljava/util/concurrent/atomic/AtomicReference;->getAndSet(Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v1
    if-eqz v1, :done
    check-cast v1, Lcom/cloudphone/agent/Conn;
    invoke-virtual {v1}, Lcom/cloudphone/agent/Conn;->close()V
    :done
    return-void
.end method


# isCurrent tells whether c is the current connection.
.method static isCurrent(Lcom/cloudphone/agent/Conn;)Z
    .locals 1

    sget-object v0, Lcom/cloudphone/agent/Main;->current:Ljava/util/concurrent/atomic/AtomicReference;
    invoke-virtual {v0}, Ljava/util/concurrent/atomic/AtomicReference;->get()Ljava/lang/Object;
    move-result-object v0
    if-ne v0, p0, :no
    const/4 v0, 0x1
    return v0
    :no
    const/4 v0, 0x0
    return v0
.end method


# release is called when c ends: if it was the current connection, there
# is none now, and a gesture it left down is cancelled.
.method static release(Lcom/cloudphone/agent/Conn;)V
    .locals 2

    sget-object v0, Lcom/cloudphone/agent/Main;->current:Ljava/util/concurrent/atomic/AtomicReference;
    const/4 v1, 0x0
    invoke-virtual {v0, p0, v1}, Ljava/util/concurrent/atomic/AtomicReference;->compareAndSet(Ljava/lang/Object;Ljava/lang/Object;)Z
    move-result v0
    if-eqz v0, :done
    invoke-virtual {p0, v1}, Lcom/cloudphone/agent/Conn;->locked([B)V
    :done
    return-void
.end method


# report sends a clipboard change to the current connection, if any.
.method static report(Ljava/lang/String;)V
    .locals 2

    sget-object v0, Lcom/cloudphone/agent/Main;->current:Ljava/util/concurrent/atomic/AtomicReference;
    invoke-virtual {v0}, Ljava/util/concurrent/atomic/AtomicReference;->get()Ljava/lang/Object;
    move-result-object v0
    if-eqz v0, :done
    check-cast v0, Lcom/cloudphone/agent/Conn;
    const/4 v1, 0x1
    invoke-virtual {v0, v1, p0}, Lcom/cloudphone/agent/Conn;->sendClipboard(ILjava/lang/String;)V
    :done
    return-void
.end method
