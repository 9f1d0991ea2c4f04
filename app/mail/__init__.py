"""Mail, by reason:

- `app.mail.queue`: `MailQueue.send` queues a message in the zope transaction of the change that causes it
  (repoze.sendmail's QueuedMailDelivery), so the mail exists only if the change commits.
- `app.mail.queued`: `QueuedMail` reads the committed messages back, decoded (`QueuedMessage`), for `flask mail
  list` and `flask mail show`.
- `app.mail.delivery`: `MailSender` delivers the queue over SMTP for `flask send-mail` and says what happened
  (`DeliveryReport`, `DeliveryFailure`).
- `app.mail.maildir`: the queue on disk (a Maildir at `MAIL_QUEUE_PATH`) the three share.
"""
from app.mail.delivery import DeliveryFailure, DeliveryReport, MailSender
from app.mail.queue import MailQueue
from app.mail.queued import QueuedMail, QueuedMessage

__all__ = ["DeliveryFailure", "DeliveryReport", "MailQueue", "MailSender", "QueuedMail", "QueuedMessage"]
