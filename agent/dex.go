package agent

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

// Dex is the agent, assembled from smali/ by build.sh (smali assemble -a
// 21: Android 5 and later load it). It is committed, so building the
// service never needs Java; TestDexIsFresh fails when it differs from a
// fresh build.
//
//go:embed media-agent.dex
var Dex []byte

// MainClass is the class app_process starts.
const MainClass = "com.cloudphone.agent.Main"

// DevicePath is where the service pushes the dex on a device.
const DevicePath = "/data/local/tmp/media-agent.dex"

// DexSHA256 is the hex SHA-256 of Dex.
func DexSHA256() string {
	sum := sha256.Sum256(Dex)
	return hex.EncodeToString(sum[:])
}
