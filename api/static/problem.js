// One line for an API error (problem+json): its detail, and each field error the detail does not already
// say (a field error reads body.x where the detail says x). Shared by the plans page and the fleet page.
"use strict";

function problemText(status, data, fallback = "") {
  const detail = data ? (data.detail || data.title) : fallback;
  const fields = (data && data.errors || []).filter((e) => !String(detail).includes(e.message))
    .map((e) => `${e.field}: ${e.message}`).join("; ");
  return `${status} ${detail}${fields ? ` (${fields})` : ""}`;
}
