// The text synthetic vocabularies are trained on: mostly English, some code, some other
// languages and scripts, so that common words, indentation and multi-byte characters get
// tokens of their own. Written for isomer; any change to it changes every synthetic file.
#include "synth/vocab.h"

namespace isomer::synth {

std::string_view training_text() {
  return R"CORPUS(The quick brown fox jumps over the lazy dog. The dog does not mind; it has seen the fox before.
It was a quiet morning in the small town by the river. The baker opened his shop at six, and the
smell of fresh bread drifted along the street. Children walked to school, and their parents
hurried to the station to catch the early train. Nobody noticed the old man sitting on the bench
near the bridge, feeding the birds with crumbs from a paper bag.

"Good morning," said the baker to the first customer of the day. "What would you like?"
"Two loaves of bread and a cup of coffee, please. It's going to be a long day, isn't it?"
"They're all long days when you're working," the baker replied with a smile. "But I don't mind."

A language model reads text as a sequence of tokens. Each token is a piece of a word, a whole
word, a number, a space or a punctuation mark. The model predicts the next token from the ones
before it, one step at a time. To do this, it turns every token into a vector, mixes the vectors
with attention, and passes them through a feed-forward network in each of its layers. At the end,
the last vector is compared with every token in the vocabulary, and the scores are turned into
probabilities. Sampling picks one token; the process repeats until the text is long enough or the
model produces an end-of-text token. Models with more layers and wider vectors are slower, but
they usually write better text. Quantization stores the weights with fewer bits, which makes the
model smaller and faster while keeping most of its quality.

In 2024, the city counted 12,345 visitors in March, 23,456 in April and 34,567 in May. The museum
opened at 9:30 and closed at 17:00; tickets cost $12.50 for adults and $6.25 for children. Call
+1 (555) 010-2030 or write to info@example.com for more information. The temperature was 21.5
degrees at noon, which is 70.7 degrees Fahrenheit. About 3.14159 is the value of pi.

She thought about the question for a long time. What makes a good story? Perhaps it is the
people in it, the places they live, and the choices they make when things go wrong. Perhaps it
is simply the way the words sound when they are read aloud. Either way, she decided, the only
way to find out was to start writing, and so she picked up her pen and wrote the first line.

#include <iostream>
#include <string>
#include <vector>

// Returns the sum of the values in the vector.
int sum(const std::vector<int>& values) {
    int total = 0;
    for (int value : values) {
        total += value;
    }
    return total;
}

int main(int argc, char** argv) {
    std::vector<int> numbers = {1, 2, 3, 4, 5};
    if (argc > 1) {
        std::cout << "Hello, " << argv[1] << "!" << std::endl;
    }
    std::cout << "sum = " << sum(numbers) << std::endl;
    return 0;
}

def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    result = []
    a, b = 0, 1
    for _ in range(n):
        result.append(a)
        a, b = b, a + b
    return result


class Counter:
    def __init__(self, start=0):
        self.value = start

    def increment(self, step=1):
        self.value += step
        return self.value


if __name__ == "__main__":
    print(fibonacci(10))
    counter = Counter()
    for i in range(3):
        print(f"count: {counter.increment()}")

function greet(name) {
  const message = `Hello, ${name}!`;
  console.log(message);
  return { name, length: message.length, ok: true };
}

{"name": "isomer", "version": "0.1.0", "layers": [1, 2, 3], "enabled": true, "scale": 0.02}

$ cmake -S . -B build && cmake --build build -j 4
$ ./build/bin/isomer run -m model.gguf -p "Once upon a time" -n 32

SELECT name, count(*) FROM users WHERE created_at > '2024-01-01' GROUP BY name ORDER BY 2 DESC;

Le petit chat dort sur le canapé pendant que la pluie tombe doucement sur la ville. Nous avons
mangé des crêpes et bu du café au lait. Où est la gare, s'il vous plaît ? C'est à deux minutes.

Der schnelle braune Fuchs springt über den faulen Hund. Wir fahren morgen früh mit dem Zug nach
München, weil das Wetter schön sein soll. Größe, Straße und Mädchen sind schwierige Wörter.

El niño come una manzana en el jardín. ¿Dónde está la biblioteca? Mañana vamos a la playa con
nuestros amigos, y después cenaremos juntos en casa de mi abuela.

Быстрая коричневая лиса прыгает через ленивую собаку. Сегодня хорошая погода, и мы идём гулять
в парк. Спасибо, до свидания!

今天天气很好，我们一起去公园散步吧。我喜欢读书，也喜欢写字。这个模型可以生成中文文本。

今日はいい天気ですね。私は毎朝コーヒーを飲みます。日本語の文章も少し入れておきます。

오늘은 날씨가 좋습니다. 우리는 함께 공원에 갑니다.

Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.

नमस्ते, आप कैसे हैं? मैं ठीक हूँ।

Emoji and symbols: 😀 🎉 👍 ❤️ → ← ≤ ≥ ± × ÷ € £ ¥ © ® ™ … — “quoted” ‘text’.

The end of the story was not the end of the town. The river kept flowing, the baker kept baking,
and every morning the old man came back to the bench by the bridge to feed the birds. When people
asked him why, he only smiled and said that somebody had to do it, and that the birds were good
company. The children who grew up in the town remembered him for the rest of their lives.
)CORPUS";
}

}  // namespace isomer::synth
