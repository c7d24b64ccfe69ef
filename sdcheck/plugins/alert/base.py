"""Wording the alert plugin's checks share."""

# what to do when alerts cannot be encrypted to the admins' key (alert.gpg, and alert.maillog
# when the mail log shows 'Failed to encrypt')
GPG_REMEDY = ("Export the admins' current public key ('gpg --export -a FINGERPRINT > ossec.pub'), "
              "set ossec_alert_gpg_public_key and ossec_gpg_fpr (40 hex digits, no spaces) in "
              "site-specific, and re-run 'securedrop-admin install'.")
