// liblz4 from the system (Debian: liblz4-dev), wrapped for SwiftPM.
#include <lz4.h>
