.class final Lcom/cloudphone/agent/Refl;
.super Ljava/lang/Object;

# Reflection on the framework's hidden interfaces, whose signatures change
# across Android versions.


# service is Stub.asInterface(ServiceManager.getService(name)), stub being
# the class name of the service's AIDL Stub.
.method static service(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/Object;
    .locals 6

    const/4 v2, 0x1
    const/4 v5, 0x0

    const-string v0, "android.os.ServiceManager"
    invoke-static {v0}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    move-result-object v0
    new-array v3, v2, [Ljava/lang/Class;
    const-class v4, Ljava/lang/String;
    aput-object v4, v3, v5
    const-string v1, "getService"
    invoke-virtual {v0, v1, v3}, Ljava/lang/Class;->getMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    move-result-object v0
    new-array v3, v2, [Ljava/lang/Object;
    aput-object p0, v3, v5
    const/4 v1, 0x0
    invoke-virtual {v0, v1, v3}, Ljava/lang/reflect/Method;->invoke(Ljava/lang/Object;[Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v0
    if-eqz v0, :missing

    invoke-static {p1}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    move-result-object v1
    new-array v3, v2, [Ljava/lang/Class;
    const-class v4, Landroid/os/IBinder;
    aput-object v4, v3, v5
    const-string v4, "asInterface"
    invoke-virtual {v1, v4, v3}, Ljava/lang/Class;->getMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    move-result-object v1
    new-array v3, v2, [Ljava/lang/Object;
    aput-object v0, v3, v5
    const/4 v4, 0x0
    invoke-virtual {v1, v4, v3}, Ljava/lang/reflect/Method;->invoke(Ljava/lang/Object;[Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v0
    return-object v0

    :missing
    new-instance v0, Ljava/lang/StringBuilder;
    const-string v1, "no service "
    invoke-direct {v0, v1}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v0, p0}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    new-instance v1, Ljava/lang/IllegalStateException;
    invoke-direct {v1, v0}, Ljava/lang/IllegalStateException;-><init>(Ljava/lang/String;)V
    throw v1
.end method


# find is target's first public method called name, or null.
.method static find(Ljava/lang/Object;Ljava/lang/String;)Ljava/lang/reflect/Method;
    .locals 5

    invoke-virtual {p0}, Ljava/lang/Object;->getClass()Ljava/lang/Class;
    move-result-object v0
    invoke-virtual {v0}, Ljava/lang/Class;->getMethods()[Ljava/lang/reflect/Method;
    move-result-object v0
    array-length v1, v0
    const/4 v2, 0x0
    :loop
    if-ge v2, v1, :none
    aget-object v3, v0, v2
    invoke-virtual {v3}, Ljava/lang/reflect/Method;->getName()Ljava/lang/String;
    move-result-object v4
    invoke-virtual {v4, p1}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v4
    if-nez v4, :found
    add-int/lit8 v2, v2, 0x1
    goto :loop
    :found
    return-object v3
    :none
    const/4 v3, 0x0
    return-object v3
.end method


# call calls target's method name with arguments filled by their types:
# the ints from ints in order (0 once they run out), the first String str
# and the others null, a boolean false, a long 0, a parameter of obj's type
# obj, anything else null.
.method static call(Ljava/lang/Object;Ljava/lang/String;[ILjava/lang/String;Ljava/lang/Object;)Ljava/lang/Object;
    .locals 10

    invoke-static {p0, p1}, Lcom/cloudphone/agent/Refl;->find(Ljava/lang/Object;Ljava/lang/String;)Ljava/lang/reflect/Method;
    move-result-object v0
    if-nez v0, :found
    new-instance v1, Ljava/lang/NoSuchMethodException;
    invoke-direct {v1, p1}, Ljava/lang/NoSuchMethodException;-><init>(Ljava/lang/String;)V
    throw v1

    # v1 = parameter types, v2 = their number, v3 = arguments, v4 = a,
    # v5 = ints used, v6 = the String still to give
    :found
    invoke-virtual {v0}, Ljava/lang/reflect/Method;->getParameterTypes()[Ljava/lang/Class;
    move-result-object v1
    array-length v2, v1
    new-array v3, v2, [Ljava/lang/Object;
    const/4 v4, 0x0
    const/4 v5, 0x0
    move-object v6, p3

    :arg
    if-ge v4, v2, :invoke
    aget-object v7, v1, v4
    sget-object v8, Ljava/lang/Integer;->TYPE:Ljava/lang/Class;
    if-ne v7, v8, :not_int
    const/4 v8, 0x0
    array-length v9, p2
    if-ge v5, v9, :int_value
    aget v8, p2, v5
    :int_value
    add-int/lit8 v5, v5, 0x1
    invoke-static {v8}, Ljava/lang/Integer;->valueOf(I)Ljava/lang/Integer;
    move-result-object v8
    aput-object v8, v3, v4
    goto :next

    :not_int
    const-class v8, Ljava/lang/String;
    if-ne v7, v8, :not_string
    aput-object v6, v3, v4
    const/4 v6, 0x0
    goto :next

    :not_string
    sget-object v8, Ljava/lang/Boolean;->TYPE:Ljava/lang/Class;
    if-ne v7, v8, :not_boolean
    sget-object v8, Ljava/lang/Boolean;->FALSE:Ljava/lang/Boolean;
    aput-object v8, v3, v4
    goto :next

    :not_boolean
    sget-object v8, Ljava/lang/Long;->TYPE:Ljava/lang/Class;
    if-ne v7, v8, :not_long
    const-wide/16 v8, 0x0
    invoke-static {v8, v9}, Ljava/lang/Long;->valueOf(J)Ljava/lang/Long;
    move-result-object v8
    aput-object v8, v3, v4
    goto :next

    :not_long
    if-eqz p4, :next
    invoke-virtual {v7, p4}, Ljava/lang/Class;->isInstance(Ljava/lang/Object;)Z
    move-result v8
    if-eqz v8, :next
    aput-object p4, v3, v4

    :next
    add-int/lit8 v4, v4, 0x1
    goto :arg

    # the method may belong to a class that is not public (an AIDL Proxy)
    :invoke
    const/4 v1, 0x1
    invoke-virtual {v0, v1}, Ljava/lang/reflect/Method;->setAccessible(Z)V
    invoke-virtual {v0, p0, v3}, Ljava/lang/reflect/Method;->invoke(Ljava/lang/Object;[Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v0
    return-object v0
.end method
