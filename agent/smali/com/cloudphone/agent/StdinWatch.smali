.class final Lcom/cloudphone/agent/StdinWatch;
.super Ljava/lang/Thread;

# The agent's lifeline, a daemon thread: it reads standard input until its
# end and then ends the process. The service starts the agent from an adb
# shell and never writes to it; when that shell ends (the service stopped
# the device, the service or its adb connection died) adbd closes the
# program's standard input, so the agent never outlives the service's
# hold on the device.


.method constructor <init>()V
    .locals 1

    const-string v0, "media-agent-stdin"
    invoke-direct {p0, v0}, Ljava/lang/Thread;-><init>(Ljava/lang/String;)V
    const/4 v0, 0x1
    invoke-virtual {p0, v0}, Lcom/cloudphone/agent/StdinWatch;->setDaemon(Z)V
    return-void
.end method


.method public run()V
    .locals 2

    :loop
    :try_read
    sget-object v0, Ljava/lang/System;->in:Ljava/io/InputStream;
    invoke-virtual {v0}, Ljava/io/InputStream;->read()I
    move-result v0
    :try_read_end
    .catch Ljava/io/IOException; {:try_read .. :try_read_end} :gone
    if-gez v0, :loop

    :gone
    sget-object v0, Ljava/lang/System;->out:Ljava/io/PrintStream;
    const-string v1, "media-agent: standard input closed; exiting"
    invoke-virtual {v0, v1}, Ljava/io/PrintStream;->println(Ljava/lang/String;)V
    invoke-virtual {v0}, Ljava/io/PrintStream;->flush()V
    const/4 v0, 0x0
    invoke-static {v0}, Ljava/lang/System;->exit(I)V
    return-void
.end method
