package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/device"
)

// devicesCommand runs "devices check SERIAL": it starts the input agent on
// one device as the service would, reports the device's Android version,
// the input method the service would use and why, and the agent's round
// trip, and stops the agent. It injects nothing. The exit status is 0
// when the agent runs, 1 when input would fall back to the shell, 2 for
// a usage error.
func devicesCommand(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintf(stderr, "media-service: usage: devices check SERIAL\n")
		return 2
	}
	serial := args[1]
	if err := adb.ValidSerial(serial); err != nil {
		fmt.Fprintf(stderr, "media-service: %v\n", err)
		return 2
	}
	cfg, err := config.FromEnvironment(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: %v\n", err)
		return 2
	}
	client, err := adb.NewClient(cfg.ADBServer)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	list, err := client.Devices(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: the adb server at %s: %v\n", cfg.ADBServer, err)
		return 1
	}
	i := slices.IndexFunc(list, func(d adb.DeviceInfo) bool { return d.Serial == serial })
	if i < 0 {
		fmt.Fprintf(stderr, "media-service: the adb server at %s does not list %s (adb connect it first)\n", cfg.ADBServer, serial)
		return 1
	}
	if st := list[i].State; st != "device" {
		fmt.Fprintf(stderr, "media-service: %s is %s, not usable\n", serial, st)
		return 1
	}
	ch, err := device.CheckInput(ctx, client, serial, 10)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "device:  %s (%s)\n", serial, ch.Model)
	fmt.Fprintf(stdout, "android: %s (API %d)\n", ch.Release, ch.SDK)
	if ch.Method != "agent" {
		slow := ""
		if ch.Slow {
			slow = "; slow on this Android: each event starts a Java VM (0.3 to 1.2 s)"
		}
		fmt.Fprintf(stdout, "input:   shell (the input command%s)\nreason:  %s\n", slow, ch.Reason)
		return 1
	}
	rtts := slices.Clone(ch.RTTs)
	slices.Sort(rtts)
	fmt.Fprintf(stdout, "input:   agent %s (on-device, app_process)\n", ch.AgentVersion)
	fmt.Fprintf(stdout, "agent round trip: median %s, max %s over %d pings\n",
		roundMillis(rtts[len(rtts)/2]), roundMillis(rtts[len(rtts)-1]), len(rtts))
	return 0
}
