/* The version of litefs-fwd: the forwarder reports it in its answer to a health check
 * (PING), and `litefs-fwd status` and `doctor` print it beside their own. */
#ifndef VERSION_H
#define VERSION_H

#define LITEFS_FWD_VERSION "0.1.0"

#endif
