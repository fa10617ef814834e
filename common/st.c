/* st — error kinds; see st.h. */
#include "st.h"

const char *st_name(st_t st) {
        switch (st) {
        case ST_OK:
                return "ok";
        case ST_INVALID:
                return "invalid";
        case ST_RETRY:
                return "retry";
        case ST_STOPPED:
                return "stopped";
        case ST_FATAL:
                return "fatal";
        case ST_NOMEM:
                return "out of memory";
        }
        return "unknown";
}
