// The policy tabs' rules editor: "Add rule" copies the last row with fresh names, and each
// row's operator list shows only the operators its field takes. Without this file the form's
// rows are plain fields and the server names a bad rule.
"use strict";

function narrowOperators(row, applies) {
  const field = row.querySelector("[data-rule-field]");
  const operator = row.querySelector("[data-rule-operator]");
  if (!field || !operator) return;
  const allowed = applies[field.value];
  let firstAllowed = null;
  for (const option of operator.options) {
    const ok = !allowed || allowed.includes(option.value);
    option.hidden = !ok;
    option.disabled = !ok;
    if (ok && firstAllowed === null) firstAllowed = option;
  }
  const current = operator.options[operator.selectedIndex];
  if (current && current.disabled && firstAllowed) firstAllowed.selected = true;
}

function setUpEditor(editor) {
  let applies = {};
  try { applies = JSON.parse(editor.dataset.applies || "{}"); } catch (_err) { applies = {}; }
  const rows = () => Array.from(editor.querySelectorAll(".rule-row"));
  rows().forEach((row) => narrowOperators(row, applies));
  editor.addEventListener("change", (event) => {
    if (event.target.matches("[data-rule-field]")) {
      narrowOperators(event.target.closest(".rule-row"), applies);
    }
  });
  const add = editor.querySelector("[data-add-rule]");
  if (!add) return;
  add.hidden = false;
  add.addEventListener("click", () => {
    const all = rows();
    const last = all[all.length - 1];
    const index = all.length;
    const copy = last.cloneNode(true);
    for (const el of copy.querySelectorAll("[id], [name], label[for]")) {
      for (const attr of ["id", "name", "for"]) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace(/rule-\d+-/, `rule-${index}-`));
      }
    }
    for (const input of copy.querySelectorAll("input")) input.value = "";
    const field = copy.querySelector("[data-rule-field]");
    if (field) field.selectedIndex = 0;
    last.after(copy);
    narrowOperators(copy, applies);
    if (field) field.focus();
  });
}

document.querySelectorAll("[data-rules-editor]").forEach(setUpEditor);
