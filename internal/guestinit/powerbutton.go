package guestinit

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
	// inputEventSize is sizeof(struct input_event) on 64-bit Linux: a
	// 16-byte timeval, then type (u16), code (u16) and value (s32).
	inputEventSize = 24
)

// WatchPowerButton calls press when a power key goes down on any
// /dev/input/event* device: the ACPI power button that a VMM's
// power-down request presses shows up there once the kernel has the button
// and evdev drivers (built in, or loaded by the initramfs). Without them
// there is nothing to watch and it returns at once.
func WatchPowerButton(ctx context.Context, press func()) {
	paths, _ := filepath.Glob("/dev/input/event*")
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		context.AfterFunc(ctx, func() { f.Close() })
		go func() {
			defer f.Close()
			watchEvents(f, press)
		}()
	}
}

// watchEvents reads input events from r until it fails and calls press on
// every key-down of KEY_POWER.
func watchEvents(r io.Reader, press func()) {
	buf := make([]byte, inputEventSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		typ := binary.LittleEndian.Uint16(buf[16:])
		code := binary.LittleEndian.Uint16(buf[18:])
		value := int32(binary.LittleEndian.Uint32(buf[20:]))
		if typ == evKey && code == keyPower && value == 1 {
			press()
		}
	}
}
