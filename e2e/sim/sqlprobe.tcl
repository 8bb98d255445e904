# Runs SQL statements with Tcl's sqlite3 package and reports the error.
#
# usage: tclsh sqlprobe.tcl DB SQL [SQL...]
# Prints the rows ("|"-separated), then "ok", or "error PRIMARY_CODE MESSAGE" (Tcl's
# `db errorcode` gives the primary result code: 8 for SQLITE_READONLY, 10 for SQLITE_IOERR)
# and exits 1.
package require sqlite3

set dbpath [lindex $argv 0]
if {[catch {sqlite3 db $dbpath} msg]} {
	puts "error open $msg"
	exit 1
}
db timeout 5000
foreach sql [lrange $argv 1 end] {
	if {[catch {db eval $sql} rows]} {
		puts "error [db errorcode] $rows"
		db close
		exit 1
	}
	if {[llength $rows]} {
		puts [join $rows |]
	}
}
db close
puts ok
