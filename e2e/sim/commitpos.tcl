# Tcl twin of commitpos.py: commits N transactions, reads DB-pos after each COMMIT in the
# same process and prints "I BEFORE AFTER" (TXIDs in decimal).
#
# usage: tclsh commitpos.tcl DB N
package require sqlite3

proc txid {path} {
	set f [open $path rb]
	set s [read $f 34]
	close $f
	return [expr {"0x[string range $s 0 15]" + 0}]
}

lassign $argv dbpath n
sqlite3 db $dbpath
db timeout 5000
db eval {CREATE TABLE IF NOT EXISTS commitpos_tcl(i INTEGER)}
for {set i 1} {$i <= $n} {incr i} {
	set before [txid $dbpath-pos]
	db eval {BEGIN; INSERT INTO commitpos_tcl VALUES ($i); COMMIT}
	set after [txid $dbpath-pos]
	puts "$i $before $after"
}
db close
