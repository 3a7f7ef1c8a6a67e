package main

import (
	"os"
	"testing"
	"time"
)

func TestReadable(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ok, err := readable(int(r.Fd()), 10*time.Millisecond)
	if err != nil || ok {
		t.Fatalf("empty pipe: readable = %v, %v; want false", ok, err)
	}
	if _, err := w.Write([]byte("SSH-2.0-x\r\n")); err != nil {
		t.Fatal(err)
	}
	ok, err = readable(int(r.Fd()), time.Second)
	if err != nil || !ok {
		t.Fatalf("after a write: readable = %v, %v; want true", ok, err)
	}
	// The writer gone with nothing left to read is a hang-up: not ready.
	buf := make([]byte, 64)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	w.Close()
	start := time.Now()
	ok, err = readable(int(r.Fd()), 20*time.Millisecond)
	if err != nil || ok {
		t.Fatalf("hung up: readable = %v, %v; want false", ok, err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("a hang-up did not pause before the next try")
	}
}
