package vmm

// ConsolePiper is a backend that can write the guest's serial console
// into a FIFO: Config.ConsoleLog then names a FIFO the daemon made and
// drains into a capped log, and the backend opens it for writing as it
// would a file, without replacing it. A backend that cannot (a jailed
// Firecracker, whose chroot does not reach the FIFO) says so, and gets a
// plain file as before.
type ConsolePiper interface {
	ConsoleFIFO() bool
}
