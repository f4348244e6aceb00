# Parallelism 2: keyed rolling reduce, count windows and typed print output ("N> " prefixes:
# the subtask of a key comes from Flink's key-group assignment of the String/Integer key).
from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
words = ["apple", "kiwi", "fig", "plum", "pear", "lime", "date", "kiwi", "fig", "apple", "plum", "apple",
         "mango", "lemon", "melon", "grape", "peach", "berry", "cherry", "olive"]
pairs = env.from_collection([(w, 1) for w in words], Types.TUPLE([Types.STRING(), Types.INT()]))
pairs.key_by(lambda p: p[0], Types.STRING()) \
    .reduce(lambda a, b: (a[0], a[1] + b[1])) \
    .filter(lambda p: p[1] > 1) \
    .print("counts")

numbers = env.from_collection(list(range(1, 25)), Types.INT())
numbers.key_by(lambda n: n % 5, Types.INT()) \
    .count_window(2) \
    .reduce(lambda a, b: a + b, output_type=Types.INT()) \
    .map(lambda total: Row(total, total % 2 == 0),
         Types.ROW_NAMED(["total", "even"], [Types.INT(), Types.BOOLEAN()])) \
    .print("pairs")
env.execute("parallel keyed")
