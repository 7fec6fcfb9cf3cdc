.class final Lcom/cloudphone/agent/Clip;
.super Ljava/lang/Object;

# The clipboard, through the clipboard service's IClipboard by reflection:
# getPrimaryClip and setPrimaryClip are found by name and their arguments
# filled by type (Refl.call), as their signatures differ across Android
# versions. Everything runs under the Clip class's lock (locked), so that
# the poller's read-and-compare and the service's sets do not interleave:
# a text the service set is never reported back as a change.

# IClipboard, once found.
.field static service:Ljava/lang/Object;

# The text last seen by the poller or set by the service (null: none yet).
.field static last:Ljava/lang/String;


# text is the clipboard's text, or null.
.method static text()Ljava/lang/String;
    .locals 2

    const/4 v0, 0x0
    const/4 v1, 0x0
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Clip;->locked(ILjava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method


# set sets the clipboard to a plain text s.
.method static set(Ljava/lang/String;)V
    .locals 1

    const/4 v0, 0x1
    invoke-static {v0, p0}, Lcom/cloudphone/agent/Clip;->locked(ILjava/lang/String;)Ljava/lang/String;
    return-void
.end method


# poll is the clipboard's text when it differs from the last text seen or
# set, else null. The first poll only records the text.
.method static poll()Ljava/lang/String;
    .locals 2

    const/4 v0, 0x2
    const/4 v1, 0x0
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Clip;->locked(ILjava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method


# locked runs op (0 text, 1 set s, 2 poll) under the Clip class's lock.
.method static locked(ILjava/lang/String;)Ljava/lang/String;
    .locals 3

    const-class v0, Lcom/cloudphone/agent/Clip;
    monitor-enter v0
    :try_start_0
    invoke-static {p0, p1}, Lcom/cloudphone/agent/Clip;->op(ILjava/lang/String;)Ljava/lang/String;
    move-result-object v1
    monitor-exit v0
    :try_end_0
    .catchall {:try_start_0 .. :try_end_0} :catchall_0
    return-object v1

    :catchall_0
    move-exception v2
    :try_start_1
    monitor-exit v0
    :try_end_1
    .catchall {:try_start_1 .. :try_end_1} :catchall_0
    throw v2
.end method


.method static op(ILjava/lang/String;)Ljava/lang/String;
    .locals 5

    sget-object v0, Lcom/cloudphone/agent/Clip;->service:Ljava/lang/Object;
    if-nez v0, :have
    const-string v0, "clipboard"
    const-string v1, "android.content.IClipboard$Stub"
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Refl;->service(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/Object;
    move-result-object v0
    sput-object v0, Lcom/cloudphone/agent/Clip;->service:Ljava/lang/Object;
    :have
    const/4 v1, 0x1
    if-eq p0, v1, :set

    # getPrimaryClip(callingPackage[, attributionTag][, userId][, deviceId])
    const-string v1, "getPrimaryClip"
    const/4 v2, 0x0
    new-array v2, v2, [I
    const-string v3, "com.android.shell"
    const/4 v4, 0x0
    invoke-static {v0, v1, v2, v3, v4}, Lcom/cloudphone/agent/Refl;->call(Ljava/lang/Object;Ljava/lang/String;[ILjava/lang/String;Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v1
    invoke-static {v1}, Lcom/cloudphone/agent/Clip;->textOf(Ljava/lang/Object;)Ljava/lang/String;
    move-result-object v1
    if-nez p0, :poll
    return-object v1

    :poll
    if-nez v1, :seen
    return-object v1
    :seen
    sget-object v2, Lcom/cloudphone/agent/Clip;->last:Ljava/lang/String;
    sput-object v1, Lcom/cloudphone/agent/Clip;->last:Ljava/lang/String;
    if-eqz v2, :same
    invoke-virtual {v1, v2}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v2
    if-nez v2, :same
    return-object v1
    :same
    const/4 v1, 0x0
    return-object v1

    # setPrimaryClip(clip, callingPackage[, attributionTag][, userId][, deviceId])
    :set
    const-string v1, "media-service"
    invoke-static {v1, p1}, Landroid/content/ClipData;->newPlainText(Ljava/lang/CharSequence;Ljava/lang/CharSequence;)Landroid/content/ClipData;
    move-result-object v4
    const-string v1, "setPrimaryClip"
    const/4 v2, 0x0
    new-array v2, v2, [I
    const-string v3, "com.android.shell"
    invoke-static {v0, v1, v2, v3, v4}, Lcom/cloudphone/agent/Refl;->call(Ljava/lang/Object;Ljava/lang/String;[ILjava/lang/String;Ljava/lang/Object;)Ljava/lang/Object;
    sput-object p1, Lcom/cloudphone/agent/Clip;->last:Ljava/lang/String;
    const/4 v1, 0x0
    return-object v1
.end method


# textOf is the text of a ClipData's first item, or null.
.method static textOf(Ljava/lang/Object;)Ljava/lang/String;
    .locals 1

    if-eqz p0, :none
    check-cast p0, Landroid/content/ClipData;
    invoke-virtual {p0}, Landroid/content/ClipData;->getItemCount()I
    move-result v0
    if-lez v0, :none
    const/4 v0, 0x0
    invoke-virtual {p0, v0}, Landroid/content/ClipData;->getItemAt(I)Landroid/content/ClipData$Item;
    move-result-object v0
    invoke-virtual {v0}, Landroid/content/ClipData$Item;->getText()Ljava/lang/CharSequence;
    move-result-object v0
    if-eqz v0, :none
    invoke-static {v0}, Ljava/lang/String;->valueOf(Ljava/lang/Object;)Ljava/lang/String;
    move-result-object v0
    return-object v0
    :none
    const/4 v0, 0x0
    return-object v0
.end method
