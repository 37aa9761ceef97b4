"""Someone in danger now gets 110/120 advice before anything else, on every path.

A rule can only fire for the intents it names, and a form keeps the turn for itself; a message
reporting danger may be parsed as any intent ("救命 他拿刀要砍我 在我家门口" once came out as
``inform`` and went to ``action_note_place``).  This policy looks only at the ``emergency``
entity (nlu_components/emergency.py): right after such a message it predicts
``action_handle_emergency`` with full confidence, in the same class of prediction as a form's
"go on" (one that overrules predictions from the user's words), and with a priority above
RulePolicy's, so it wins even inside a form.  Everything else it leaves to the other policies.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

EMERGENCY_ENTITY = "emergency"
EMERGENCY_ACTION = "action_handle_emergency"


def reports_danger(tracker: DialogueStateTracker, in_form_confidence: float = 0.0) -> bool:
    """Whether the latest user message carries the emergency entity and nothing has answered it.

    Inside a form the villager is answering a question ("我们两口子在外面打工 娃娃是爷爷奶奶带"),
    and words that sound like danger are commoner: there the classifier must be at least
    ``in_form_confidence`` sure, unless an emergency word was said."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            found = [e for e in event.entities or [] if e.get("entity") == EMERGENCY_ENTITY]
            if not found or not tracker.active_loop_name:
                return bool(found)
            return any(e.get("role") == "words" or float(e.get("confidence") or 0) >= in_form_confidence
                       for e in found)
        if isinstance(event, ActionExecuted) and event.action_name not in (
            ACTION_LISTEN_NAME, "action_extract_slots", "action_session_start",
        ):
            return False  # something already answered this message
    return False


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False)
class EmergencyPolicy(Policy):
    """Predicts ``action_handle_emergency`` right after a message reporting danger now."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # RulePolicy's priority is 6: a tie at confidence 1.0 goes to this one.  Inside a form
        # the classifier must be this sure (chosen with the simulated villagers' answers).
        return {"priority": 7, "in_form_confidence": 0.75}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext, featurizer: Optional[Any] = None) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        return self._resource  # nothing to learn

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        in_form = float(self.config.get("in_form_confidence", 0.75))
        if not (reports_danger(tracker, in_form) and EMERGENCY_ACTION in domain.action_names_or_texts):
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(EMERGENCY_ACTION)] = 1.0
        # RulePolicy marks "the active form goes on" as a prediction that does not depend on
        # the user's message, and those overrule all others; this one must overrule it.
        return self._prediction(probabilities, is_no_user_prediction=True)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "EmergencyPolicy":
        return cls(config, model_storage, resource, execution_context)

    def persist(self) -> None:  # nothing to keep
        pass
