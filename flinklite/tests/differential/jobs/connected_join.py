# Connected streams: a KeyedCoProcessFunction join, CoMap and CoFlatMap, union and side outputs.
from pyflink.common import Types
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import (CoFlatMapFunction, CoMapFunction, KeyedCoProcessFunction,
                                          ProcessFunction)
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor


class EnrichOrders(KeyedCoProcessFunction):
    def open(self, runtime_context):
        self.user = runtime_context.get_state(ValueStateDescriptor("user", Types.STRING()))
        self.waiting = runtime_context.get_list_state(ListStateDescriptor("waiting", Types.STRING()))

    def process_element1(self, value, ctx):
        self.user.update(value[1])
        for order in self.waiting.get():
            yield "%s bought %s" % (value[1], order)
        self.waiting.clear()

    def process_element2(self, value, ctx):
        if self.user.value() is None:
            self.waiting.add(value[1])
        else:
            yield "%s bought %s" % (self.user.value(), value[1])


class Tag(CoMapFunction):
    def map1(self, value):
        return "user:%s" % value[1]

    def map2(self, value):
        return "order:%s" % value[1]


class Explode(CoFlatMapFunction):
    def flat_map1(self, value):
        yield value[1].upper()

    def flat_map2(self, value):
        for part in value[1].split("-"):
            yield part


big = OutputTag("big", Types.STRING())


class SplitBig(ProcessFunction):
    def process_element(self, value, ctx):
        if value[2] >= 100:
            yield big, "big order %s" % value[1]
        yield value


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
row = Types.TUPLE([Types.INT(), Types.STRING(), Types.INT()])
users = env.from_collection([(1, "ann", 0), (2, "bob", 0), (3, "cid", 0)], row)
orders = env.from_collection([(2, "tea-cup", 12), (1, "book", 120), (4, "pen", 3), (2, "lamp", 300)], row)
checked = orders.process(SplitBig(), row)
checked.get_side_output(big).print("side")
users.connect(checked).key_by(lambda u: u[0], lambda o: o[0], Types.INT()) \
    .process(EnrichOrders(), Types.STRING()).print("join")
users.connect(orders).map(Tag(), Types.STRING()).print("comap")
users.connect(orders).flat_map(Explode(), Types.STRING()) \
    .union(env.from_collection(["extra"], Types.STRING())).print("coflatmap")
env.execute("connected")
