// `clawfence alert test`: one test event to PagerDuty, sent now (not through the spool), and
// PagerDuty's answer printed, so an operator can check the routing key, the endpoint and the
// proxy before relying on them.
#pragma once

#include "output/pagerduty.h"

namespace clawfence::app {

// Exit status: 0 when PagerDuty accepted the event (2xx), 1 when it answered otherwise or could
// not be reached, 2 when the configuration is wrong (no key, key file mode, URL).
int alert_test(const output::PagerDutyOptions& opts);

}  // namespace clawfence::app
