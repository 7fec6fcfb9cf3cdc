.class final Lcom/cloudphone/agent/Input;
.super Ljava/lang/Object;

# Input injection: touch (with the state of up to 10 pointers), scroll,
# keys, text, paste. Everything here runs under LOCK (Conn.locked).
# Events are stamped with SystemClock.uptimeMillis() and injected through
# InputManagerGlobal.getInstance() (Android 14+) or InputManager.getInstance()
# (older), by reflection: injectInputEvent(InputEvent, int mode), mode 0
# (ASYNC) but for the paste key's up (see paste).

.field static final LOCK:Ljava/lang/Object;

# InputManager(Global).getInstance() and its injectInputEvent, once found.
.field static manager:Ljava/lang/Object;
.field static inject:Ljava/lang/reflect/Method;

# The pointers down, in the order they went down: n of them, ids[i] at
# (xs[i], ys[i]) with pressure ps[i] (0..1); downTime is the gesture's
# first down.
.field static final ids:[I
.field static final xs:[F
.field static final ys:[F
.field static final ps:[F
.field static n:I
.field static downTime:J

# The time of the last down of each key code (0..1000), for its up.
.field static final keyDown:[J


.method static constructor <clinit>()V
    .locals 2

    new-instance v0, Ljava/lang/Object;
    invoke-direct {v0}, Ljava/lang/Object;-><init>()V
    sput-object v0, Lcom/cloudphone/agent/Input;->LOCK:Ljava/lang/Object;
    const/16 v1, 0xa
    new-array v0, v1, [I
    sput-object v0, Lcom/cloudphone/agent/Input;->ids:[I
    new-array v0, v1, [F
    sput-object v0, Lcom/cloudphone/agent/Input;->xs:[F
    new-array v0, v1, [F
    sput-object v0, Lcom/cloudphone/agent/Input;->ys:[F
    new-array v0, v1, [F
    sput-object v0, Lcom/cloudphone/agent/Input;->ps:[F
    const/16 v1, 0x3e9
    new-array v0, v1, [J
    sput-object v0, Lcom/cloudphone/agent/Input;->keyDown:[J
    return-void
.end method


# init finds the input manager and its injectInputEvent(InputEvent, int).
.method static init()V
    .locals 6

    :try_global
    const-string v0, "android.hardware.input.InputManagerGlobal"
    invoke-static {v0}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    move-result-object v0
    :try_global_end
    .catch Ljava/lang/ClassNotFoundException; {:try_global .. :try_global_end} :legacy
    goto :found

    :legacy
    const-string v0, "android.hardware.input.InputManager"
    invoke-static {v0}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    move-result-object v0

    :found
    const-string v1, "getInstance"
    const/4 v2, 0x0
    new-array v2, v2, [Ljava/lang/Class;
    invoke-virtual {v0, v1, v2}, Ljava/lang/Class;->getMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    move-result-object v1
    const/4 v3, 0x0
    new-array v4, v3, [Ljava/lang/Object;
    invoke-virtual {v1, v3, v4}, Ljava/lang/reflect/Method;->invoke(Ljava/lang/Object;[Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v1
    const-string v2, "injectInputEvent"
    const/4 v3, 0x2
    new-array v3, v3, [Ljava/lang/Class;
    const-class v4, Landroid/view/InputEvent;
    const/4 v5, 0x0
    aput-object v4, v3, v5
    sget-object v4, Ljava/lang/Integer;->TYPE:Ljava/lang/Class;
    const/4 v5, 0x1
    aput-object v4, v3, v5
    invoke-virtual {v0, v2, v3}, Ljava/lang/Class;->getMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    move-result-object v2
    sput-object v1, Lcom/cloudphone/agent/Input;->manager:Ljava/lang/Object;
    sput-object v2, Lcom/cloudphone/agent/Input;->inject:Ljava/lang/reflect/Method;
    return-void
.end method


# inject injects event e with the given mode (0 ASYNC, 2 WAIT_FOR_FINISH);
# it throws when that fails or is refused.
.method static inject(Landroid/view/InputEvent;I)V
    .locals 5

    sget-object v0, Lcom/cloudphone/agent/Input;->inject:Ljava/lang/reflect/Method;
    if-nez v0, :ready
    invoke-static {}, Lcom/cloudphone/agent/Input;->init()V
    sget-object v0, Lcom/cloudphone/agent/Input;->inject:Ljava/lang/reflect/Method;
    :ready
    sget-object v1, Lcom/cloudphone/agent/Input;->manager:Ljava/lang/Object;
    const/4 v2, 0x2
    new-array v2, v2, [Ljava/lang/Object;
    const/4 v3, 0x0
    aput-object p0, v2, v3
    invoke-static {p1}, Ljava/lang/Integer;->valueOf(I)Ljava/lang/Integer;
    move-result-object v4
    const/4 v3, 0x1
    aput-object v4, v2, v3
    invoke-virtual {v0, v1, v2}, Ljava/lang/reflect/Method;->invoke(Ljava/lang/Object;[Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v1
    instance-of v2, v1, Ljava/lang/Boolean;
    if-eqz v2, :ok
    check-cast v1, Ljava/lang/Boolean;
    invoke-virtual {v1}, Ljava/lang/Boolean;->booleanValue()Z
    move-result v2
    if-nez v2, :ok
    new-instance v1, Ljava/lang/IllegalStateException;
    const-string v2, "injectInputEvent refused the event"
    invoke-direct {v1, v2}, Ljava/lang/IllegalStateException;-><init>(Ljava/lang/String;)V
    throw v1
    :ok
    return-void
.end method


# touch handles Touch(action, pointer id, x, y, pressure 0..65535). A down
# of a new pointer is ACTION_DOWN (the first) or ACTION_POINTER_DOWN (index
# << 8); a down of a pointer already down, or a move, is ACTION_MOVE; an up
# is ACTION_POINTER_UP (index << 8), or ACTION_UP for the last one; cancel
# is ACTION_CANCEL and forgets every pointer. A move or up of a pointer
# that is not down is ignored.
.method static touch(IIIII)V
    .locals 11

    const/4 v0, 0x3
    if-gt p0, v0, :bad
    const/16 v0, 0x9
    if-gt p1, v0, :bad
    if-ltz p1, :bad
    invoke-static {}, Landroid/os/SystemClock;->uptimeMillis()J
    move-result-wide v0

    # v4 = the pointer's index (n when it is not down)
    sget-object v2, Lcom/cloudphone/agent/Input;->ids:[I
    sget v3, Lcom/cloudphone/agent/Input;->n:I
    const/4 v4, 0x0
    :find
    if-ge v4, v3, :found
    aget v5, v2, v4
    if-eq v5, p1, :found
    add-int/lit8 v4, v4, 0x1
    goto :find

    # v5 = the MotionEvent action
    :found
    const/4 v5, 0x3
    if-ne p0, v5, :not_cancel
    if-eqz v3, :ignore
    goto :emit

    :not_cancel
    if-lt v4, v3, :known
    if-nez p0, :ignore
    if-nez v3, :add
    sput-wide v0, Lcom/cloudphone/agent/Input;->downTime:J
    :add
    aput p1, v2, v4
    add-int/lit8 v3, v4, 0x1
    sput v3, Lcom/cloudphone/agent/Input;->n:I
    const/4 v5, 0x0
    if-eqz v4, :set
    shl-int/lit8 v5, v4, 0x8
    or-int/lit8 v5, v5, 0x5
    goto :set

    :known
    const/4 v5, 0x2
    if-eqz p0, :set
    const/4 v6, 0x2
    if-eq p0, v6, :set
    const/4 v5, 0x1
    const/4 v6, 0x1
    if-eq v3, v6, :set
    shl-int/lit8 v5, v4, 0x8
    or-int/lit8 v5, v5, 0x6

    :set
    int-to-float v6, p2
    sget-object v7, Lcom/cloudphone/agent/Input;->xs:[F
    aput v6, v7, v4
    int-to-float v6, p3
    sget-object v7, Lcom/cloudphone/agent/Input;->ys:[F
    aput v6, v7, v4
    int-to-float v6, p4
    const v7, 0x477fff00    # 65535.0f
    div-float/2addr v6, v7
    sget-object v7, Lcom/cloudphone/agent/Input;->ps:[F
    aput v6, v7, v4

    :emit
    invoke-static {v5, v0, v1}, Lcom/cloudphone/agent/Input;->motion(IJ)Landroid/view/MotionEvent;
    move-result-object v6

    # forget the pointers that went up before injecting, so that a failed
    # injection leaves a consistent state
    const/4 v7, 0x1
    if-eq v5, v7, :clear
    const/4 v7, 0x3
    if-eq v5, v7, :clear
    and-int/lit16 v7, v5, 0xff
    const/4 v8, 0x6
    if-ne v7, v8, :inject
    invoke-static {v4}, Lcom/cloudphone/agent/Input;->remove(I)V
    goto :inject
    :clear
    const/4 v7, 0x0
    sput v7, Lcom/cloudphone/agent/Input;->n:I

    :inject
    const/4 v7, 0x0
    invoke-static {v6, v7}, Lcom/cloudphone/agent/Input;->inject(Landroid/view/InputEvent;I)V
    :ignore
    return-void

    :bad
    new-instance v0, Ljava/lang/IllegalArgumentException;
    const-string v1, "touch action or pointer out of range"
    invoke-direct {v0, v1}, Ljava/lang/IllegalArgumentException;-><init>(Ljava/lang/String;)V
    throw v0
.end method


# remove forgets the pointer at index i.
.method static remove(I)V
    .locals 5

    sget v0, Lcom/cloudphone/agent/Input;->n:I
    add-int/lit8 v0, v0, -0x1
    sput v0, Lcom/cloudphone/agent/Input;->n:I
    move v1, p0
    :loop
    if-ge v1, v0, :done
    add-int/lit8 v2, v1, 0x1
    sget-object v3, Lcom/cloudphone/agent/Input;->ids:[I
    aget v4, v3, v2
    aput v4, v3, v1
    sget-object v3, Lcom/cloudphone/agent/Input;->xs:[F
    aget v4, v3, v2
    aput v4, v3, v1
    sget-object v3, Lcom/cloudphone/agent/Input;->ys:[F
    aget v4, v3, v2
    aput v4, v3, v1
    sget-object v3, Lcom/cloudphone/agent/Input;->ps:[F
    aget v4, v3, v2
    aput v4, v3, v1
    move v1, v2
    goto :loop
    :done
    return-void
.end method


# reset cancels the gesture in progress, if any; errors are ignored.
.method static reset()V
    .locals 5

    sget v0, Lcom/cloudphone/agent/Input;->n:I
    if-eqz v0, :done
    :try_cancel
    const/4 v0, 0x3
    const/4 v1, 0x0
    const/4 v2, 0x0
    const/4 v3, 0x0
    const/4 v4, 0x0
    invoke-static/range {v0 .. v4}, Lcom/cloudphone/agent/Input;->touch(IIIII)V
    :try_cancel_end
    .catch Ljava/lang/Throwable; {:try_cancel .. :try_cancel_end} :done
    :done
    return-void
.end method


# motion is the touchscreen MotionEvent of the pointers down, with the
# given action and event time.
.method static motion(IJ)Landroid/view/MotionEvent;
    .locals 12

    sget v0, Lcom/cloudphone/agent/Input;->n:I
    new-array v1, v0, [Landroid/view/MotionEvent$PointerProperties;
    new-array v2, v0, [Landroid/view/MotionEvent$PointerCoords;
    const/4 v3, 0x0
    :loop
    if-ge v3, v0, :built
    new-instance v4, Landroid/view/MotionEvent$PointerProperties;
    invoke-direct {v4}, Landroid/view/MotionEvent$PointerProperties;-><init>()V
    sget-object v5, Lcom/cloudphone/agent/Input;->ids:[I
    aget v5, v5, v3
    iput v5, v4, Landroid/view/MotionEvent$PointerProperties;->id:I
    const/4 v5, 0x1    # TOOL_TYPE_FINGER
    iput v5, v4, Landroid/view/MotionEvent$PointerProperties;->toolType:I
    aput-object v4, v1, v3
    new-instance v4, Landroid/view/MotionEvent$PointerCoords;
    invoke-direct {v4}, Landroid/view/MotionEvent$PointerCoords;-><init>()V
    sget-object v5, Lcom/cloudphone/agent/Input;->xs:[F
    aget v5, v5, v3
    iput v5, v4, Landroid/view/MotionEvent$PointerCoords;->x:F
    sget-object v5, Lcom/cloudphone/agent/Input;->ys:[F
    aget v5, v5, v3
    iput v5, v4, Landroid/view/MotionEvent$PointerCoords;->y:F
    sget-object v5, Lcom/cloudphone/agent/Input;->ps:[F
    aget v5, v5, v3
    iput v5, v4, Landroid/view/MotionEvent$PointerCoords;->pressure:F
    aput-object v4, v2, v3
    add-int/lit8 v3, v3, 0x1
    goto :loop

    :built
    sget-wide v3, Lcom/cloudphone/agent/Input;->downTime:J
    move-wide v5, p1
    move v7, p0
    move v8, v0
    move-object v9, v1
    move-object v10, v2
    const/16 v11, 0x1002    # InputDevice.SOURCE_TOUCHSCREEN
    invoke-static/range {v3 .. v11}, Lcom/cloudphone/agent/Input;->obtain(JJII[Landroid/view/MotionEvent$PointerProperties;[Landroid/view/MotionEvent$PointerCoords;I)Landroid/view/MotionEvent;
    move-result-object v0
    return-object v0
.end method


# obtain is MotionEvent.obtain(downTime, eventTime, action, pointerCount,
# properties, coords, metaState 0, buttonState 0, xPrecision 1, yPrecision
# 1, deviceId 0, edgeFlags 0, source, flags 0): API 14.
.method static obtain(JJII[Landroid/view/MotionEvent$PointerProperties;[Landroid/view/MotionEvent$PointerCoords;I)Landroid/view/MotionEvent;
    .locals 16

    move-wide/from16 v0, p0
    move-wide/from16 v2, p2
    move/from16 v4, p4
    move/from16 v5, p5
    move-object/from16 v6, p6
    move-object/from16 v7, p7
    const/4 v8, 0x0
    const/4 v9, 0x0
    const/high16 v10, 0x3f800000    # 1.0f
    const/high16 v11, 0x3f800000    # 1.0f
    const/4 v12, 0x0
    const/4 v13, 0x0
    move/from16 v14, p8
    const/4 v15, 0x0
    invoke-static/range {v0 .. v15}, Landroid/view/MotionEvent;->obtain(JJII[Landroid/view/MotionEvent$PointerProperties;[Landroid/view/MotionEvent$PointerCoords;IIFFIIII)Landroid/view/MotionEvent;
    move-result-object v0
    return-object v0
.end method


# scroll handles Scroll(x, y, h, v): ACTION_SCROLL from a mouse, one
# pointer at (x, y) with AXIS_HSCROLL h and AXIS_VSCROLL v.
.method static scroll(IIFF)V
    .locals 12

    invoke-static {}, Landroid/os/SystemClock;->uptimeMillis()J
    move-result-wide v0
    const/4 v3, 0x1
    const/4 v4, 0x0

    new-instance v2, Landroid/view/MotionEvent$PointerProperties;
    invoke-direct {v2}, Landroid/view/MotionEvent$PointerProperties;-><init>()V
    iput v4, v2, Landroid/view/MotionEvent$PointerProperties;->id:I
    const/4 v5, 0x3    # TOOL_TYPE_MOUSE
    iput v5, v2, Landroid/view/MotionEvent$PointerProperties;->toolType:I
    new-array v9, v3, [Landroid/view/MotionEvent$PointerProperties;
    aput-object v2, v9, v4

    new-instance v2, Landroid/view/MotionEvent$PointerCoords;
    invoke-direct {v2}, Landroid/view/MotionEvent$PointerCoords;-><init>()V
    int-to-float v5, p0
    iput v5, v2, Landroid/view/MotionEvent$PointerCoords;->x:F
    int-to-float v5, p1
    iput v5, v2, Landroid/view/MotionEvent$PointerCoords;->y:F
    const/16 v5, 0xa    # AXIS_HSCROLL
    invoke-virtual {v2, v5, p2}, Landroid/view/MotionEvent$PointerCoords;->setAxisValue(IF)V
    const/16 v5, 0x9    # AXIS_VSCROLL
    invoke-virtual {v2, v5, p3}, Landroid/view/MotionEvent$PointerCoords;->setAxisValue(IF)V
    new-array v10, v3, [Landroid/view/MotionEvent$PointerCoords;
    aput-object v2, v10, v4

    move-wide v3, v0
    move-wide v5, v0
    const/16 v7, 0x8    # ACTION_SCROLL
    const/4 v8, 0x1
    const/16 v11, 0x2002    # InputDevice.SOURCE_MOUSE
    invoke-static/range {v3 .. v11}, Lcom/cloudphone/agent/Input;->obtain(JJII[Landroid/view/MotionEvent$PointerProperties;[Landroid/view/MotionEvent$PointerCoords;I)Landroid/view/MotionEvent;
    move-result-object v2
    const/4 v3, 0x0
    invoke-static {v2, v3}, Lcom/cloudphone/agent/Input;->inject(Landroid/view/InputEvent;I)V
    return-void
.end method


# key handles Key(action, code, repeat, meta); an up carries the time of
# its key's last down.
.method static key(IIII)V
    .locals 11

    const/4 v0, 0x1
    if-gt p0, v0, :bad
    if-ltz p0, :bad
    if-ltz p1, :bad
    const/16 v0, 0x3e8
    if-gt p1, v0, :bad
    if-ltz p2, :bad

    invoke-static {}, Landroid/os/SystemClock;->uptimeMillis()J
    move-result-wide v0
    sget-object v2, Lcom/cloudphone/agent/Input;->keyDown:[J
    if-nez p0, :down_time
    if-nez p2, :down_time
    aput-wide v0, v2, p1
    :down_time
    aget-wide v3, v2, p1
    const-wide/16 v5, 0x0
    cmp-long v5, v3, v5
    if-nez v5, :event
    move-wide v3, v0

    :event
    move-wide v5, v0
    move v7, p0
    move v8, p1
    move v9, p2
    move v10, p3
    invoke-static/range {v3 .. v10}, Lcom/cloudphone/agent/Input;->keyEvent(JJIIII)Landroid/view/KeyEvent;
    move-result-object v0
    const/4 v1, 0x0
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Input;->inject(Landroid/view/InputEvent;I)V
    return-void

    :bad
    new-instance v0, Ljava/lang/IllegalArgumentException;
    const-string v1, "key action, code or repeat out of range"
    invoke-direct {v0, v1}, Ljava/lang/IllegalArgumentException;-><init>(Ljava/lang/String;)V
    throw v0
.end method


# keyEvent is new KeyEvent(downTime, eventTime, action, code, repeat, meta,
# KeyCharacterMap.VIRTUAL_KEYBOARD, scancode 0, flags 0,
# InputDevice.SOURCE_KEYBOARD): API 9.
.method static keyEvent(JJIIII)Landroid/view/KeyEvent;
    .locals 13

    new-instance v0, Landroid/view/KeyEvent;
    move-wide/from16 v1, p0
    move-wide/from16 v3, p2
    move/from16 v5, p4
    move/from16 v6, p5
    move/from16 v7, p6
    move/from16 v8, p7
    const/4 v9, -0x1    # KeyCharacterMap.VIRTUAL_KEYBOARD
    const/4 v10, 0x0
    const/4 v11, 0x0
    const/16 v12, 0x101    # InputDevice.SOURCE_KEYBOARD
    invoke-direct/range {v0 .. v12}, Landroid/view/KeyEvent;-><init>(JJIIIIIIII)V
    return-object v0
.end method


# press injects a down and an up of key code, the up with upMode.
.method static press(II)V
    .locals 10

    invoke-static {}, Landroid/os/SystemClock;->uptimeMillis()J
    move-result-wide v0
    move-wide v2, v0
    move-wide v4, v0
    const/4 v6, 0x0
    move v7, p0
    const/4 v8, 0x0
    const/4 v9, 0x0
    invoke-static/range {v2 .. v9}, Lcom/cloudphone/agent/Input;->keyEvent(JJIIII)Landroid/view/KeyEvent;
    move-result-object v2
    const/4 v3, 0x0
    invoke-static {v2, v3}, Lcom/cloudphone/agent/Input;->inject(Landroid/view/InputEvent;I)V

    invoke-static {}, Landroid/os/SystemClock;->uptimeMillis()J
    move-result-wide v4
    move-wide v2, v0
    const/4 v6, 0x1
    move v7, p0
    const/4 v8, 0x0
    const/4 v9, 0x0
    invoke-static/range {v2 .. v9}, Lcom/cloudphone/agent/Input;->keyEvent(JJIIII)Landroid/view/KeyEvent;
    move-result-object v2
    invoke-static {v2, p1}, Lcom/cloudphone/agent/Input;->inject(Landroid/view/InputEvent;I)V
    return-void
.end method


# paste presses KEYCODE_PASTE (279). Its up is injected in mode
# WAIT_FOR_FINISH (2): it returns once the focused app has handled the
# paste, so that a later clipboard change (the next run of a Text, the
# next SetClipboard) cannot overtake it and be pasted instead.
.method static paste()V
    .locals 2

    const/16 v0, 0x117
    const/4 v1, 0x2
    invoke-static {v0, v1}, Lcom/cloudphone/agent/Input;->press(II)V
    return-void
.end method


# text types s: each character the virtual keyboard's key character map
# can type through its key events, each run of the others through the
# clipboard and a paste, in order.
.method static text(Ljava/lang/String;)V
    .locals 8

    const/4 v0, -0x1    # KeyCharacterMap.VIRTUAL_KEYBOARD
    invoke-static {v0}, Landroid/view/KeyCharacterMap;->load(I)Landroid/view/KeyCharacterMap;
    move-result-object v0
    invoke-virtual {p0}, Ljava/lang/String;->length()I
    move-result v1
    const/4 v2, 0x0

    :next
    if-ge v2, v1, :done
    invoke-static {v0, p0, v2}, Lcom/cloudphone/agent/Input;->events(Landroid/view/KeyCharacterMap;Ljava/lang/String;I)[Landroid/view/KeyEvent;
    move-result-object v3
    if-eqz v3, :paste
    array-length v4, v3
    const/4 v5, 0x0
    :key
    if-ge v5, v4, :typed
    aget-object v6, v3, v5
    const/4 v7, 0x0
    invoke-static {v6, v7}, Lcom/cloudphone/agent/Input;->inject(Landroid/view/InputEvent;I)V
    add-int/lit8 v5, v5, 0x1
    goto :key
    :typed
    add-int/lit8 v2, v2, 0x1
    goto :next

    # v2..v4: a run of characters the map cannot type
    :paste
    add-int/lit8 v4, v2, 0x1
    :run
    if-ge v4, v1, :run_end
    invoke-static {v0, p0, v4}, Lcom/cloudphone/agent/Input;->events(Landroid/view/KeyCharacterMap;Ljava/lang/String;I)[Landroid/view/KeyEvent;
    move-result-object v3
    if-nez v3, :run_end
    add-int/lit8 v4, v4, 0x1
    goto :run
    :run_end
    invoke-virtual {p0, v2, v4}, Ljava/lang/String;->substring(II)Ljava/lang/String;
    move-result-object v3
    invoke-static {v3}, Lcom/cloudphone/agent/Clip;->set(Ljava/lang/String;)V
    invoke-static {}, Lcom/cloudphone/agent/Input;->paste()V
    move v2, v4
    goto :next

    :done
    return-void
.end method


# events is the key events that type s[i], or null.
.method static events(Landroid/view/KeyCharacterMap;Ljava/lang/String;I)[Landroid/view/KeyEvent;
    .locals 3

    invoke-virtual {p1, p2}, Ljava/lang/String;->charAt(I)C
    move-result v0
    const/4 v1, 0x1
    new-array v1, v1, [C
    const/4 v2, 0x0
    aput-char v0, v1, v2
    invoke-virtual {p0, v1}, Landroid/view/KeyCharacterMap;->getEvents([C)[Landroid/view/KeyEvent;
    move-result-object v0
    return-object v0
.end method
