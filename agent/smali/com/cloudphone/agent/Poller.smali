.class final Lcom/cloudphone/agent/Poller;
.super Ljava/lang/Thread;

# The clipboard poller, a daemon thread: every 500 ms it reads the
# clipboard and, when its text differs from the last one seen or set by
# the service, reports it to the current connection as
# Clipboard(changed 1). Errors (no clipboard service, no access) are
# ignored; a change seen while no connection is served is not reported.


.method constructor <init>()V
    .locals 1

    const-string v0, "media-agent-clipboard"
    invoke-direct {p0, v0}, Ljava/lang/Thread;-><init>(Ljava/lang/String;)V
    const/4 v0, 0x1
    invoke-virtual {p0, v0}, Lcom/cloudphone/agent/Poller;->setDaemon(Z)V
    return-void
.end method


.method public run()V
    .locals 2

    :loop
    :try_sleep
    const-wide/16 v0, 0x1f4
    invoke-static {v0, v1}, Ljava/lang/Thread;->sleep(J)V
    :try_sleep_end
    .catch Ljava/lang/InterruptedException; {:try_sleep .. :try_sleep_end} :stop

    :try_poll
    invoke-static {}, Lcom/cloudphone/agent/Clip;->poll()Ljava/lang/String;
    move-result-object v0
    if-eqz v0, :try_poll_end
    invoke-static {v0}, Lcom/cloudphone/agent/Main;->report(Ljava/lang/String;)V
    :try_poll_end
    .catch Ljava/lang/Throwable; {:try_poll .. :try_poll_end} :loop
    goto :loop

    :stop
    return-void
.end method
