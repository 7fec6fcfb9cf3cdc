.class final Lcom/cloudphone/agent/Window;
.super Ljava/lang/Object;

# The display's rotation, through the window manager's IWindowManager by
# reflection (Refl.call fills the arguments by type): freezeRotation(
# rotation[, caller]) where it exists, else freezeDisplayRotation(display
# 0, rotation[, caller]); thawRotation([caller]), else
# thawDisplayRotation(display 0[, caller]). Runs under Input.LOCK.

# IWindowManager, once found.
.field static wm:Ljava/lang/Object;


# rotate freezes the rotation at r (0..3), or gives it back to the sensor
# (-1).
.method static rotate(I)V
    .locals 7

    const/4 v0, -0x1
    if-lt p0, v0, :bad
    const/4 v0, 0x3
    if-gt p0, v0, :bad
    sget-object v0, Lcom/cloudphone/agent/Window;->wm:Ljava/lang/Object;
    if-nez v0, :have
    const-string v0, "window"
    const-string v1, "android.view.IWindowManager$Stub"
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Refl;->service(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/Object;
    move-result-object v0
    sput-object v0, Lcom/cloudphone/agent/Window;->wm:Ljava/lang/Object;
    :have
    # v1 = method, v3 = its ints
    const-string v5, "media-service"
    const/4 v6, 0x0
    if-ltz p0, :thaw

    const-string v1, "freezeRotation"
    const/4 v2, 0x1
    new-array v3, v2, [I
    const/4 v4, 0x0
    aput p0, v3, v4
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Refl;->find(Ljava/lang/Object;Ljava/lang/String;)Ljava/lang/reflect/Method;
    move-result-object v2
    if-nez v2, :call
    const-string v1, "freezeDisplayRotation"
    const/4 v2, 0x2
    new-array v3, v2, [I
    const/4 v4, 0x1
    aput p0, v3, v4
    goto :call

    :thaw
    const-string v1, "thawRotation"
    const/4 v2, 0x0
    new-array v3, v2, [I
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Refl;->find(Ljava/lang/Object;Ljava/lang/String;)Ljava/lang/reflect/Method;
    move-result-object v2
    if-nez v2, :call
    const-string v1, "thawDisplayRotation"
    const/4 v2, 0x1
    new-array v3, v2, [I

    :call
    invoke-static {v0, v1, v3, v5, v6}, Lcom/cloudphone/agent/Refl;->call(Ljava/lang/Object;Ljava/lang/String;[ILjava/lang/String;Ljava/lang/Object;)Ljava/lang/Object;
    return-void

    :bad
    new-instance v0, Ljava/lang/IllegalArgumentException;
    const-string v1, "rotation out of -1..3"
    invoke-direct {v0, v1}, Ljava/lang/IllegalArgumentException;-><init>(Ljava/lang/String;)V
    throw v0
.end method
