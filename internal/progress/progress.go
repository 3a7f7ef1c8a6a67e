// Package progress carries the progress of long operations from services to
// whoever shows it (the HTTP stream, a log).
package progress

// Event is one step of progress. Done and Total are zero for plain messages.
type Event struct {
	Step    string
	Done    int64
	Total   int64
	Message string
}

// Func receives events. A nil Func discards them.
type Func func(Event)

// Send delivers e when f is not nil.
func (f Func) Send(e Event) {
	if f != nil {
		f(e)
	}
}

// Msg sends a plain message.
func (f Func) Msg(step, msg string) { f.Send(Event{Step: step, Message: msg}) }
