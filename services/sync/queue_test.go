package sync

import (
	"os"
	"path/filepath"
	"testing"
)

func kinds(q *Queue) string {
	s := ""
	for _, op := range q.ops {
		s += string(op.Kind) + op.Path + op.To + " "
	}
	return s
}

func TestQueueCoalescesAndPersists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "queue", "job.log")
	q, err := OpenQueue(file)
	if err != nil {
		t.Fatal(err)
	}
	q.Add(Op{Kind: OpSync, Path: "a", Size: 10}, Op{Kind: OpSync, Path: "a", Size: 10}, Op{Kind: OpAttr, Path: "a"},
		Op{Kind: OpTree, Path: "d"}, Op{Kind: OpSync, Path: "d/x"}, Op{Kind: OpRename, Path: "a", To: "b \n\"c"},
		Op{Kind: OpSync, Path: "a"}, Op{Kind: OpDelete, Path: "z"})
	if got, want := kinds(q), "Sa Td Rab \n\"c Sa Dz "; got != want {
		t.Errorf("queue %q, want %q", got, want)
	}
	if n, bytes, oldest := q.Stats(); n != 5 || bytes != 10 || oldest.IsZero() {
		t.Errorf("stats %d %d %v", n, bytes, oldest)
	}
	op, _, ok := q.Next(0)
	if !ok || op.Path != "a" || op.Seq != 1 {
		t.Fatalf("next %+v %v", op, ok)
	}
	q.Next(0)
	q.Done(1)
	q.Close()

	q, err = OpenQueue(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(q), "Td Rab \n\"c Sa Dz "; got != want {
		t.Errorf("after reopening: %q, want %q", got, want)
	}
	if op, _, _ := q.Next(0); op.Kind != OpTree || op.Seq != 2 {
		t.Errorf("first after reopening %+v", op)
	}
	q.Rewind()
	if op, _, _ := q.Next(0); op.Seq != 2 {
		t.Errorf("after Rewind %+v", op)
	}
	q.Add(Op{Kind: OpSync, Path: "new"})
	if q.LastSeq() != 6 {
		t.Errorf("LastSeq %d, want 6 (sequence numbers go on after a restart)", q.LastSeq())
	}
	q.Done(q.LastSeq())
	if n, _, _ := q.Stats(); n != 0 || !q.DoneThrough(6) {
		t.Errorf("%d pending after Done of all", n)
	}
	q.Close()
	if info, _ := os.Stat(file); info.Size() != 0 {
		t.Errorf("an empty queue leaves a file of %d bytes", info.Size())
	}
}

func TestQueueSurvivesCutOffLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "q.log")
	os.WriteFile(file, []byte("+ 1 S 5 0 \"a\"\n+ 2 R 5 0 \"a\" \"b\"\n- 1\n+ 3 S 5 0 \"tru"), 0o600)
	q, err := OpenQueue(file)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got := kinds(q); got != "Rab " {
		t.Errorf("queue %q", got)
	}
	if op, _, _ := q.Next(0); op.Seq != 2 {
		t.Errorf("%+v", op)
	}
}
