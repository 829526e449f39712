// Signing in, when the server has accounts (/config `auth.mode` local or cognito): the form,
// the links from the mails (#verify=…, #reset=…), and the tokens the API calls carry.

import { ApiError, api, session } from "./api.js";

const $ = (id) => document.getElementById(id);

const STEPS = {
  "sign-in": { title: "Sign in", submit: "Sign in", fields: ["email", "password"] },
  "sign-up": { title: "Create an account", submit: "Create account", fields: ["email", "password"] },
  verify: { title: "Confirm your address", submit: "Confirm", fields: ["email", "code"] },
  forgot: { title: "Reset your password", submit: "Send reset mail", fields: ["email"] },
  reset: {
    title: "Choose a new password", submit: "Set password", fields: ["email", "code", "password"],
  },
  // the one step taken signed in
  change: { title: "Change your password", submit: "Change password", fields: ["password", "new"] },
};

export class Account {
  constructor(mode) {
    this.mode = mode;
    this.panel = $("account");
    this.form = $("account-form");
    this.error = $("account-error");
    this.message = $("account-message");
    this.signOut = $("sign-out");
    this.change = $("change-password");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    // Only Cognito mails codes to type in; darkroom's own accounts mail links.
    if (mode !== "cognito") this.panel.querySelector("[data-step=verify]").remove();
    for (const button of this.panel.querySelectorAll("[data-step]")) {
      button.addEventListener("click", () => this.show(button.dataset.step));
    }
    this.signOut.addEventListener("click", () => this.#signOut());
    this.change.addEventListener("click", () => this.show("change"));
    $("account-cancel").addEventListener("click", () => this.#close());
  }

  /** Resolves once someone is signed in. */
  async ready() {
    await this.#followLink();
    if (session.signedIn()) {
      this.#enter();
      return;
    }
    if (this.panel.hidden) this.show("sign-in");
    await new Promise((resolve) => { this.signedIn = resolve; });
  }

  show(step, message = "") {
    // A reset link's code is for setting a password with, and for nothing else.
    if (step !== "reset") this.linkCode = null;
    this.step = step;
    const { title, submit, fields } = STEPS[step];
    $("account-title").textContent = title;
    $("account-submit").textContent = submit;
    const signedIn = step === "change";
    for (const name of ["email", "password", "code", "new"]) {
      // A link from a mail carries the code, and with it who the account is.
      const shown = fields.includes(name) && !(this.linkCode && name !== "password");
      $(`account-${name}-field`).hidden = !shown;
      $(`account-${name}`).required = shown;
    }
    $("account-password").autocomplete =
      step === "sign-in" || signedIn ? "current-password" : "new-password";
    $("account-password-field").querySelector("label").textContent =
      signedIn ? "Current password" : "Password";
    $("account-password-hint").hidden = signedIn;
    for (const button of this.panel.querySelectorAll("[data-step]")) {
      button.hidden = signedIn || button.dataset.step === step;
    }
    $("account-cancel").hidden = !signedIn;
    this.error.textContent = "";
    this.message.textContent = message;
    this.panel.hidden = false;
    document.body.classList.toggle("signed-out", !signedIn);
    $("account-title").focus();
  }

  /** A link from a mail: its token is in the fragment, which the browser never sends. */
  async #followLink() {
    const found = /^#(verify|reset)=([\w.-]+)$/.exec(window.location.hash);
    if (!found) return;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    const [, action, token] = found;
    if (action === "reset") {
      this.linkCode = token;
      this.show("reset");
      return;
    }
    try {
      await api.verify("", token);
      this.show("sign-in", "Your address is confirmed. Sign in.");
    } catch (error) {
      this.show("sign-in");
      this.error.textContent = error.message;
    }
  }

  async #submit() {
    const email = $("account-email").value.trim();
    const password = $("account-password").value;
    const code = this.linkCode || $("account-code").value.trim();
    const newPassword = $("account-new").value;
    const submit = $("account-submit");
    submit.disabled = true;
    this.error.textContent = "";
    try {
      await this.#do(email, password, code, newPassword);
    } catch (error) {
      this.error.textContent = error instanceof ApiError ? error.message : String(error);
    } finally {
      submit.disabled = false;
    }
  }

  async #do(email, password, code, newPassword) {
    const mailed = this.mode === "cognito" ? "We sent a code to" : "We sent a link to";
    switch (this.step) {
      case "sign-in":
        session.keep(await api.signIn(email, password));
        // This page has shown an account's photos before (its password was changed since),
        // and this may be someone else: they get a page of their own.
        if (this.entered) {
          window.location.reload();
          return;
        }
        this.#enter();
        // The form that had the focus is gone; the photos are what comes next.
        $("gallery").focus();
        break;
      case "sign-up":
        await api.signUp(email, password);
        if (this.mode === "cognito") this.show("verify", `${mailed} ${email}. Enter it here.`);
        else this.show("sign-in", `${mailed} ${email}. Follow it, then sign in.`);
        break;
      case "verify":
        await api.verify(email, code);
        this.show("sign-in", "Your address is confirmed. Sign in.");
        break;
      case "forgot":
        await api.forgotPassword(email);
        if (this.mode === "cognito") this.show("reset", `${mailed} ${email}, if it has an account.`);
        else this.show("sign-in", `${mailed} ${email}, if it has an account.`);
        break;
      case "reset":
        try {
          await api.resetPassword(email, code, password);
        } catch (error) {
          // A link used already or out of date never works again: the form asks for another.
          if (this.linkCode && error.status === 401) this.show("forgot");
          throw error;
        }
        this.show("sign-in", "Your password is changed. Sign in with it.");
        break;
      case "change":
        // The server ends the account's sessions, this one included.
        await api.changePassword(password, newPassword);
        session.forget();
        this.signOut.hidden = this.change.hidden = true;
        this.show("sign-in", "Your password is changed. Sign in with it.");
        break;
      default:
        break;
    }
  }

  #enter() {
    this.#close();
    this.signOut.hidden = this.change.hidden = false;
    this.entered = true;
    this.signedIn?.();
  }

  #close() {
    this.panel.hidden = true;
    this.form.reset();
    document.body.classList.remove("signed-out");
  }

  async #signOut() {
    try {
      await api.signOut();
    } finally {
      session.forget();
      window.location.reload();
    }
  }
}
