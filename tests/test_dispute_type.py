"""The dispute-type component saves plain data and, loaded back, predicts exactly as trained."""

from __future__ import annotations

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.dispute_type import DisputeTypeClassifier

EXAMPLES = {
    "neighbour": [
        "隔壁家的牛吃了我家苞谷",
        "邻居家的鸡天天跑过来",
        "隔壁砌墙挡了我家的路",
        "邻居的狗咬了我家鸭子",
    ],
    "land": [
        "土地承包的地被村里收回了",
        "宅基地的边界扯不清",
        "我家的承包地被人占了",
        "林地界线有争议",
    ],
    "labour": [
        "老板拖欠工资不给",
        "在工地干了半年工钱没拿到",
        "厂里不给签劳动合同",
        "包工头跑了工资莫得",
    ],
}


def training_data() -> TrainingData:
    messages = [
        Message(
            data={
                "text": text,
                "intent": "mediation",
                "metadata": {"intent": {"dispute_type": label}},
            }
        )
        for label, texts in EXAMPLES.items()
        for text in texts
    ]
    return TrainingData(training_examples=messages)


def test_a_trained_classifier_reloads_from_plain_files_and_predicts_the_same(tmp_path):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("dispute_type")
    context = ExecutionContext(GraphSchema({}), "test")
    trained = DisputeTypeClassifier.create({}, storage, resource, context)
    trained.train(training_data())
    files = {p.name for p in (tmp_path / "dispute_type").iterdir()}
    assert files == {"dispute_type.json", "dispute_type.npz"}  # nothing executable
    loaded = DisputeTypeClassifier.load({}, storage, resource, context)
    probes = ["隔壁的牛又来吃苞谷了", "工资拖了三个月", "我家承包地被占", "莫名其妙"]
    before, after = trained.predict(probes), loaded.predict(probes)
    assert [label for label, _ in after] == [label for label, _ in before]
    assert [round(p, 9) for _, p in after] == [round(p, 9) for _, p in before]
    assert after[0][0] == "neighbour" and after[1][0] == "labour"
