-- A subset of the public Pagila sample (a DVD rental store), written for OpenDMS's tests in its style:
-- an enum, a domain, tsvector, arrays, bytea, a table partitioned by range, last_update triggers on every
-- table, a full-text trigger, and foreign keys between most tables (store and staff reference each other).
-- Source and target are both created from this script (a pre-created target schema).

CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);

CREATE FUNCTION last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_update = clock_timestamp();
    RETURN NEW;
END $$;

CREATE TABLE country (
    country_id integer PRIMARY KEY,
    country text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE city (
    city_id integer PRIMARY KEY,
    city text NOT NULL,
    country_id integer NOT NULL REFERENCES country ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE address (
    address_id integer PRIMARY KEY,
    address text NOT NULL,
    district text NOT NULL,
    city_id integer NOT NULL REFERENCES city ON UPDATE CASCADE ON DELETE RESTRICT,
    postal_code text,
    phone text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE language (
    language_id integer PRIMARY KEY,
    name character(20) NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE actor (
    actor_id integer PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE category (
    category_id integer PRIMARY KEY,
    name text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE film (
    film_id integer PRIMARY KEY,
    title text NOT NULL,
    description text,
    release_year year,
    language_id integer NOT NULL REFERENCES language ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_duration smallint NOT NULL DEFAULT 3,
    rental_rate numeric(4, 2) NOT NULL DEFAULT 4.99,
    length smallint,
    replacement_cost numeric(5, 2) NOT NULL DEFAULT 19.99,
    rating mpaa_rating DEFAULT 'G',
    last_update timestamptz NOT NULL DEFAULT now(),
    special_features text[],
    fulltext tsvector NOT NULL
);

CREATE TABLE film_actor (
    actor_id integer NOT NULL REFERENCES actor ON UPDATE CASCADE ON DELETE RESTRICT,
    film_id integer NOT NULL REFERENCES film ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, film_id)
);

CREATE TABLE film_category (
    film_id integer NOT NULL REFERENCES film ON UPDATE CASCADE ON DELETE RESTRICT,
    category_id integer NOT NULL REFERENCES category ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (film_id, category_id)
);

CREATE TABLE store (
    store_id integer PRIMARY KEY,
    manager_staff_id integer NOT NULL,
    address_id integer NOT NULL REFERENCES address ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    staff_id integer PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    address_id integer NOT NULL REFERENCES address ON UPDATE CASCADE ON DELETE RESTRICT,
    email text,
    store_id integer NOT NULL REFERENCES store,
    active boolean NOT NULL DEFAULT true,
    username text NOT NULL,
    password text,
    last_update timestamptz NOT NULL DEFAULT now(),
    picture bytea
);

-- store and staff reference each other: neither can be loaded first with the keys checked.
ALTER TABLE store ADD CONSTRAINT store_manager_staff_id_fkey FOREIGN KEY (manager_staff_id) REFERENCES staff
    ON UPDATE CASCADE ON DELETE RESTRICT;

CREATE TABLE customer (
    customer_id integer PRIMARY KEY,
    store_id integer NOT NULL REFERENCES store ON UPDATE CASCADE ON DELETE RESTRICT,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    address_id integer NOT NULL REFERENCES address ON UPDATE CASCADE ON DELETE RESTRICT,
    activebool boolean NOT NULL DEFAULT true,
    create_date date NOT NULL DEFAULT CURRENT_DATE,
    last_update timestamptz DEFAULT now(),
    active integer
);

CREATE TABLE inventory (
    inventory_id integer PRIMARY KEY,
    film_id integer NOT NULL REFERENCES film ON UPDATE CASCADE ON DELETE RESTRICT,
    store_id integer NOT NULL REFERENCES store ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rental (
    rental_id integer PRIMARY KEY,
    rental_date timestamptz NOT NULL,
    inventory_id integer NOT NULL REFERENCES inventory ON UPDATE CASCADE ON DELETE RESTRICT,
    customer_id integer NOT NULL REFERENCES customer ON UPDATE CASCADE ON DELETE RESTRICT,
    return_date timestamptz,
    staff_id integer NOT NULL REFERENCES staff ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payment (
    payment_id integer NOT NULL,
    customer_id integer NOT NULL REFERENCES customer ON UPDATE CASCADE ON DELETE RESTRICT,
    staff_id integer NOT NULL REFERENCES staff ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_id integer NOT NULL REFERENCES rental ON UPDATE CASCADE ON DELETE RESTRICT,
    amount numeric(5, 2) NOT NULL,
    payment_date timestamptz NOT NULL,
    PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);

CREATE TABLE payment_p2022_01 PARTITION OF payment FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00');
CREATE TABLE payment_p2022_02 PARTITION OF payment FOR VALUES FROM ('2022-02-01 00:00:00+00') TO ('2022-03-01 00:00:00+00');
CREATE TABLE payment_p2022_03 PARTITION OF payment FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00');
CREATE TABLE payment_p2022_04 PARTITION OF payment FOR VALUES FROM ('2022-04-01 00:00:00+00') TO ('2022-05-01 00:00:00+00');

CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON country FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON city FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON address FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON language FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON actor FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON category FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON film FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON film_actor FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON film_category FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON store FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON staff FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON customer FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON rental FOR EACH ROW EXECUTE FUNCTION last_updated();
CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON film FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title, description);
