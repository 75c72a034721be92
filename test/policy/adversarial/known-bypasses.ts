// Open bypasses: adversarial cases that walk past the gateway on main. They are reported as
// `todo`, not as passes, so that a newly found bypass can land as a case before its fix; a fix
// removes its ids from this list, and every case not listed here must pass. Empty: the 46 cases
// this list held when the corpus landed (issue 17) are fixed.
export const KNOWN_BYPASSES: readonly string[] = [];
