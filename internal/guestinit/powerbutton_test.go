package guestinit

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func inputEvent(typ, code uint16, value int32) []byte {
	b := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestWatchEvents(t *testing.T) {
	const evSyn, keyA = 0, 30
	var stream bytes.Buffer
	for _, e := range [][]byte{
		inputEvent(evKey, keyA, 1),     // another key
		inputEvent(evKey, keyPower, 0), // power released
		inputEvent(evSyn, 0, 0),
		inputEvent(evKey, keyPower, 1), // power pressed
		inputEvent(evSyn, 0, 0),
		inputEvent(evKey, keyPower, 2), // auto-repeat
	} {
		stream.Write(e)
	}
	stream.Write([]byte{1, 2, 3}) // a torn record ends the stream
	presses := 0
	watchEvents(&stream, func() { presses++ })
	if presses != 1 {
		t.Errorf("power presses = %d, want 1", presses)
	}
}
